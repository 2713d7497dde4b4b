/*
 * OpenSSL 3 (libssl.so.3, libcrypto.so.3) loaded at run time with dlopen.
 *
 * The build must not need OpenSSL's headers, so this header declares the opaque types, the constants
 * and the prototypes used, copied from the OpenSSL 3.0 ABI (which is stable across 3.x). Every
 * function is reached through a table filled by `cossl_load`: `cossl_X(...)` calls OpenSSL's `X`.
 * Calling any `cossl_` function other than `cossl_load` before a successful load is a broken
 * invariant (a null function pointer).
 */
#ifndef C_OPENSSL_H
#define C_OPENSSL_H

#include <stddef.h>
#include <stdint.h>

/* Opaque OpenSSL types. */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct ssl_cipher_st SSL_CIPHER;
typedef struct ssl_session_st SSL_SESSION;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;
typedef struct x509_st X509;
typedef struct X509_name_st X509_NAME;
typedef struct x509_store_ctx_st X509_STORE_CTX;
typedef struct stack_st_X509_NAME cossl_X509_NAME_STACK;
typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_md_st EVP_MD;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_mac_ctx_st EVP_MAC_CTX;
typedef struct engine_st ENGINE;

/* The one OpenSSL struct whose layout is used (include/openssl/core.h, public ABI). */
typedef struct cossl_param {
    const char *key;
    unsigned int data_type;
    void *data;
    size_t data_size;
    size_t return_size;
} OSSL_PARAM;

typedef int (*cossl_verify_cb)(int, X509_STORE_CTX *);
typedef int (*cossl_password_cb)(char *buf, int size, int rwflag, void *userdata);
typedef int (*cossl_alpn_select_cb)(SSL *, const unsigned char **out, unsigned char *outlen,
                                    const unsigned char *in, unsigned int inlen, void *arg);
typedef int (*cossl_ticket_key_cb)(SSL *, unsigned char *key_name, unsigned char *iv,
                                   EVP_CIPHER_CTX *, EVP_MAC_CTX *, int enc);
/// The server-name (SNI) callback: returns one of the COSSL_TLSEXT_ERR_ values.
typedef int (*cossl_servername_cb)(SSL *, int *alert, void *arg);
/// The ClientHello callback: returns COSSL_SSL_CLIENT_HELLO_SUCCESS or _ERROR (then sets `*alert`).
typedef int (*cossl_client_hello_cb)(SSL *, int *alert, void *arg);

/* Constants (ssl.h, tls1.h, prov_ssl.h, bio.h, x509.h, err.h of OpenSSL 3.0). */
enum {
    COSSL_TLS1_2_VERSION = 0x0303,
    COSSL_TLS1_3_VERSION = 0x0304,
    COSSL_SSL_ERROR_NONE = 0,
    COSSL_SSL_ERROR_SSL = 1,
    COSSL_SSL_ERROR_WANT_READ = 2,
    COSSL_SSL_ERROR_WANT_WRITE = 3,
    COSSL_SSL_ERROR_SYSCALL = 5,
    COSSL_SSL_ERROR_ZERO_RETURN = 6,
    COSSL_SSL_VERIFY_NONE = 0x00,
    COSSL_SSL_VERIFY_PEER = 0x01,
    COSSL_SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02,
    COSSL_SSL_FILETYPE_PEM = 1,
    COSSL_SSL_SENT_SHUTDOWN = 1,
    COSSL_SSL_RECEIVED_SHUTDOWN = 2,
    COSSL_SSL_TLSEXT_ERR_OK = 0,
    COSSL_SSL_TLSEXT_ERR_ALERT_FATAL = 2,
    COSSL_SSL_TLSEXT_ERR_NOACK = 3,
    COSSL_TLSEXT_NAMETYPE_host_name = 0,
    COSSL_TLSEXT_TYPE_server_name = 0,
    COSSL_SSL_CLIENT_HELLO_SUCCESS = 1,
    COSSL_SSL_CLIENT_HELLO_ERROR = 0,
    COSSL_SSL_AD_INTERNAL_ERROR = 80,
    COSSL_SSL_KEY_UPDATE_REQUESTED = 1,
    COSSL_X509_V_OK = 0,
    COSSL_ERR_LIB_SSL = 20,
    COSSL_ERR_LIB_X509 = 11,
    COSSL_SSL_R_UNEXPECTED_EOF_WHILE_READING = 294,
    COSSL_X509_R_KEY_TYPE_MISMATCH = 115,
    COSSL_X509_R_KEY_VALUES_MISMATCH = 116,
    COSSL_TICKET_KEY_NAME_LENGTH = 16,
    COSSL_TICKET_AES_KEY_LENGTH = 32,
    COSSL_TICKET_HMAC_KEY_LENGTH = 32,
};
/* SSL_OP_BIT(n) options and SSL_MODE flags. */
static const uint64_t COSSL_SSL_OP_NO_COMPRESSION = (uint64_t)1 << 17;
static const uint64_t COSSL_SSL_OP_CIPHER_SERVER_PREFERENCE = (uint64_t)1 << 22;
static const uint64_t COSSL_SSL_OP_NO_RENEGOTIATION = (uint64_t)1 << 30;
static const long COSSL_SSL_MODE_RELEASE_BUFFERS = 0x10;
static const long COSSL_SSL_SESS_CACHE_OFF = 0x0;
/* XN_FLAG_RFC2253: ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV | XN_FLAG_FN_SN
   | XN_FLAG_DUMP_UNKNOWN_FIELDS. */
static const unsigned long COSSL_XN_FLAG_RFC2253 = 0x317UL | (1UL << 16) | (1UL << 20) | (1UL << 24);

/*
 * The function table: X(library, return type, name, parameters, arguments) for functions returning a
 * value, V(library, name, parameters, arguments) for void ones. `library` is 0 for libcrypto, 1 for
 * libssl. Functions marked "client" are used only to build the test client.
 */
#define COSSL_FUNCTIONS(X, V) \
    X(0, unsigned long, OpenSSL_version_num, (void), ()) \
    X(0, unsigned long, ERR_get_error, (void), ()) \
    X(0, unsigned long, ERR_peek_error, (void), ()) \
    V(0, ERR_clear_error, (void), ()) \
    V(0, ERR_error_string_n, (unsigned long e, char *buf, size_t len), (e, buf, len)) \
    X(0, const BIO_METHOD *, BIO_s_mem, (void), ()) \
    X(0, BIO *, BIO_new, (const BIO_METHOD *type), (type)) \
    X(0, int, BIO_free, (BIO *b), (b)) \
    X(0, int, BIO_read, (BIO *b, void *data, int dlen), (b, data, dlen)) \
    X(0, int, BIO_write, (BIO *b, const void *data, int dlen), (b, data, dlen)) \
    X(0, long, BIO_ctrl, (BIO *b, int cmd, long larg, void *parg), (b, cmd, larg, parg)) \
    V(0, X509_free, (X509 *x), (x)) \
    X(0, X509_NAME *, X509_get_subject_name, (const X509 *x), (x)) \
    X(0, X509_NAME *, X509_get_issuer_name, (const X509 *x), (x)) \
    X(0, int, X509_NAME_print_ex, (BIO *out, const X509_NAME *nm, int indent, unsigned long flags), (out, nm, indent, flags)) \
    X(0, int, PEM_write_bio_X509, (BIO *out, const X509 *x), (out, x)) \
    X(0, const char *, X509_verify_cert_error_string, (long n), (n)) \
    X(0, int, RAND_bytes, (unsigned char *buf, int num), (buf, num)) \
    X(0, const EVP_CIPHER *, EVP_aes_256_cbc, (void), ()) \
    X(0, const EVP_MD *, EVP_sha256, (void), ()) \
    X(0, int, EVP_Digest, (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl), (data, count, md, size, type, impl)) \
    X(0, int, EVP_EncryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, type, impl, key, iv)) \
    X(0, int, EVP_DecryptInit_ex, (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl, const unsigned char *key, const unsigned char *iv), (ctx, type, impl, key, iv)) \
    X(0, int, EVP_MAC_CTX_set_params, (EVP_MAC_CTX *ctx, const OSSL_PARAM *params), (ctx, params)) \
    X(0, OSSL_PARAM, OSSL_PARAM_construct_octet_string, (const char *key, void *buf, size_t bsize), (key, buf, bsize)) \
    X(0, OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *buf, size_t bsize), (key, buf, bsize)) \
    X(0, OSSL_PARAM, OSSL_PARAM_construct_end, (void), ()) \
    X(1, const SSL_METHOD *, TLS_server_method, (void), ()) \
    X(1, const SSL_METHOD *, TLS_client_method, (void), ()) /* client */ \
    X(1, SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *meth), (meth)) \
    V(1, SSL_CTX_free, (SSL_CTX *ctx), (ctx)) \
    X(1, uint64_t, SSL_CTX_set_options, (SSL_CTX *ctx, uint64_t op), (ctx, op)) \
    X(1, long, SSL_CTX_ctrl, (SSL_CTX *ctx, int cmd, long larg, void *parg), (ctx, cmd, larg, parg)) \
    X(1, long, SSL_CTX_callback_ctrl, (SSL_CTX *ctx, int cmd, void (*fp)(void)), (ctx, cmd, fp)) \
    X(1, int, SSL_CTX_set_cipher_list, (SSL_CTX *ctx, const char *str), (ctx, str)) \
    X(1, int, SSL_CTX_set_ciphersuites, (SSL_CTX *ctx, const char *str), (ctx, str)) \
    X(1, int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *ctx, const char *file), (ctx, file)) \
    X(1, int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *ctx, const char *file, int type), (ctx, file, type)) \
    X(1, int, SSL_CTX_check_private_key, (const SSL_CTX *ctx), (ctx)) \
    X(1, int, SSL_CTX_load_verify_locations, (SSL_CTX *ctx, const char *CAfile, const char *CApath), (ctx, CAfile, CApath)) \
    X(1, cossl_X509_NAME_STACK *, SSL_load_client_CA_file, (const char *file), (file)) \
    V(1, SSL_CTX_set_client_CA_list, (SSL_CTX *ctx, cossl_X509_NAME_STACK *list), (ctx, list)) \
    V(1, SSL_CTX_set_verify, (SSL_CTX *ctx, int mode, cossl_verify_cb cb), (ctx, mode, cb)) \
    X(1, int, SSL_CTX_set_session_id_context, (SSL_CTX *ctx, const unsigned char *sid_ctx, unsigned int sid_ctx_len), (ctx, sid_ctx, sid_ctx_len)) \
    V(1, SSL_CTX_set_default_passwd_cb, (SSL_CTX *ctx, cossl_password_cb cb), (ctx, cb)) \
    V(1, SSL_CTX_set_alpn_select_cb, (SSL_CTX *ctx, cossl_alpn_select_cb cb, void *arg), (ctx, cb, arg)) \
    X(1, int, SSL_CTX_set_alpn_protos, (SSL_CTX *ctx, const unsigned char *protos, unsigned int protos_len), (ctx, protos, protos_len)) /* client */ \
    X(1, int, SSL_select_next_proto, (unsigned char **out, unsigned char *outlen, const unsigned char *server, unsigned int server_len, const unsigned char *client, unsigned int client_len), (out, outlen, server, server_len, client, client_len)) \
    X(1, int, SSL_CTX_set_tlsext_ticket_key_evp_cb, (SSL_CTX *ctx, cossl_ticket_key_cb fp), (ctx, fp)) \
    X(1, int, SSL_CTX_set_ex_data, (SSL_CTX *ctx, int idx, void *data), (ctx, idx, data)) \
    X(1, void *, SSL_CTX_get_ex_data, (const SSL_CTX *ctx, int idx), (ctx, idx)) \
    X(1, SSL_CTX *, SSL_get_SSL_CTX, (const SSL *ssl), (ssl)) \
    X(1, SSL_CTX *, SSL_set_SSL_CTX, (SSL *ssl, SSL_CTX *ctx), (ssl, ctx)) \
    V(1, SSL_CTX_set_client_hello_cb, (SSL_CTX *c, cossl_client_hello_cb cb, void *arg), (c, cb, arg)) \
    X(1, int, SSL_client_hello_get0_ext, (SSL *s, unsigned int type, const unsigned char **out, size_t *outlen), (s, type, out, outlen)) \
    X(1, int, SSL_set_session_id_context, (SSL *ssl, const unsigned char *sid_ctx, unsigned int sid_ctx_len), (ssl, sid_ctx, sid_ctx_len)) \
    X(1, SSL *, SSL_new, (SSL_CTX *ctx), (ctx)) \
    V(1, SSL_free, (SSL *ssl), (ssl)) \
    V(1, SSL_set_bio, (SSL *s, BIO *rbio, BIO *wbio), (s, rbio, wbio)) \
    V(1, SSL_set_accept_state, (SSL *s), (s)) \
    V(1, SSL_set_connect_state, (SSL *s), (s)) /* client */ \
    X(1, int, SSL_do_handshake, (SSL *s), (s)) \
    X(1, int, SSL_read, (SSL *ssl, void *buf, int num), (ssl, buf, num)) \
    X(1, int, SSL_write, (SSL *ssl, const void *buf, int num), (ssl, buf, num)) \
    X(1, int, SSL_shutdown, (SSL *s), (s)) \
    X(1, int, SSL_get_error, (const SSL *s, int ret_code), (s, ret_code)) \
    X(1, int, SSL_is_init_finished, (const SSL *s), (s)) \
    X(1, int, SSL_get_shutdown, (const SSL *ssl), (ssl)) \
    X(1, int, SSL_pending, (const SSL *s), (s)) \
    X(1, long, SSL_ctrl, (SSL *ssl, int cmd, long larg, void *parg), (ssl, cmd, larg, parg)) \
    X(1, const char *, SSL_get_version, (const SSL *s), (s)) \
    X(1, const SSL_CIPHER *, SSL_get_current_cipher, (const SSL *s), (s)) \
    X(1, const char *, SSL_CIPHER_get_name, (const SSL_CIPHER *c), (c)) \
    V(1, SSL_get0_alpn_selected, (const SSL *ssl, const unsigned char **data, unsigned int *len), (ssl, data, len)) \
    X(1, const char *, SSL_get_servername, (const SSL *s, const int type), (s, type)) \
    X(1, X509 *, SSL_get1_peer_certificate, (const SSL *s), (s)) \
    X(1, long, SSL_get_verify_result, (const SSL *ssl), (ssl)) \
    X(1, int, SSL_session_reused, (const SSL *s), (s)) \
    X(1, SSL_SESSION *, SSL_get1_session, (SSL *ssl), (ssl)) /* client */ \
    X(1, int, SSL_set_session, (SSL *to, SSL_SESSION *session), (to, session)) /* client */ \
    V(1, SSL_SESSION_free, (SSL_SESSION *ses), (ses)) /* client */ \
    X(1, int, SSL_key_update, (SSL *s, int updatetype), (s, updatetype)) /* client */ \
    X(1, int, SSL_renegotiate, (SSL *s), (s)) /* client */

#define COSSL_DECLARE_X(lib, ret, name, params, args) ret cossl_##name params;
#define COSSL_DECLARE_V(lib, name, params, args) void cossl_##name params;
COSSL_FUNCTIONS(COSSL_DECLARE_X, COSSL_DECLARE_V)
#undef COSSL_DECLARE_X
#undef COSSL_DECLARE_V

/* Outcome of `cossl_load`. */
enum {
    COSSL_LOAD_OK = 0,
    COSSL_LOAD_NO_CRYPTO = 1,    /* dlopen of the crypto library failed; detail: dlerror() */
    COSSL_LOAD_NO_SSL = 2,       /* dlopen of the ssl library failed; detail: dlerror() */
    COSSL_LOAD_NO_SYMBOL = 3,    /* a function is missing; detail: its name */
    COSSL_LOAD_TOO_OLD = 4,      /* OpenSSL_version_num() below 3.0; detail: the number in hex */
};

/// Opens both libraries and fills the table; the first success in the process installs its table,
/// later calls open and check the named libraries again but keep the installed one. Thread-safe.
int cossl_load(const char *ssl_library, const char *crypto_library, char *detail, size_t detail_size);

/* The macros of ssl.h and bio.h the Swift side uses, as functions. */
long cossl_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
long cossl_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long cossl_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long cossl_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long cossl_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, cossl_servername_cb cb, void *arg);
long cossl_SSL_set_tlsext_host_name(SSL *ssl, const char *name); /* client */
size_t cossl_BIO_pending(BIO *b);
long cossl_BIO_set_mem_eof_return(BIO *b, long v);
static inline int cossl_ERR_GET_LIB(unsigned long e) { return (int)((e >> 23) & 0xFF); }
static inline int cossl_ERR_GET_REASON(unsigned long e) { return (int)(e & 0x7FFFFF); }

/// Makes loading an encrypted key fail instead of prompting on the terminal for a pass phrase.
void cossl_SSL_CTX_refuse_passwords(SSL_CTX *ctx);

/// Advertises the protocols in `list` and selects the first of them the client offers (RFC 7301 §3.2);
/// without overlap, ALPN is not acknowledged. `list` is a 2-byte big-endian length followed by that
/// many bytes of ALPN wire format (length-prefixed names, in order of preference); it must outlive
/// the context.
void cossl_SSL_CTX_set_alpn_protocols(SSL_CTX *ctx, const unsigned char *list);

/// Session-ticket keys: a 16-byte name, an AES-256-CBC key and an HMAC-SHA256 key each.
typedef struct cossl_ticket_key {
    unsigned char name[COSSL_TICKET_KEY_NAME_LENGTH];
    unsigned char aes_key[COSSL_TICKET_AES_KEY_LENGTH];
    unsigned char hmac_key[COSSL_TICKET_HMAC_KEY_LENGTH];
} cossl_ticket_key;

/// Keys[0] encrypts new tickets; every key decrypts (a ticket under keys[1] is renewed).
typedef struct cossl_ticket_keys {
    int count;
    cossl_ticket_key keys[2];
} cossl_ticket_keys;

/// Makes `ctx` encrypt and decrypt session tickets with `keys` (which must outlive the context).
int cossl_SSL_CTX_use_ticket_keys(SSL_CTX *ctx, const cossl_ticket_keys *keys);
/// Replaces installed keys (a rotation) while handshakes on other threads may be reading them.
void cossl_ticket_keys_replace(cossl_ticket_keys *installed, const cossl_ticket_keys *keys);

/// Bytes in the buffer `cossl_thread_buffer` returns: one TLS record with its header and largest
/// expansion (RFC 8446 §5.2), rounded up.
enum { COSSL_THREAD_BUFFER_SIZE = 17 * 1024 };

/// The calling thread's buffer of COSSL_THREAD_BUFFER_SIZE bytes for ciphertext on its way between a
/// socket and a session (allocated on first use, kept for the thread's life); NULL if out of memory.
unsigned char *cossl_thread_buffer(void);

/// Fills `buffer` from the kernel's random source (getrandom(2)); returns bytes written or -1 (errno).
long cossl_getrandom(void *buffer, size_t length);

/// Overwrites `length` bytes at `p` with zeros in a way the compiler keeps.
void cossl_cleanse(void *p, size_t length);

#endif
