/*
 * Run-time binding to OpenSSL 3: dlopen, a table of function pointers, thin forwarding functions, and
 * the callbacks OpenSSL calls back into (ALPN selection, session-ticket keys, pass phrases).
 */
#include "COpenSSL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* Control codes of the ssl.h and bio.h macros (OpenSSL 3.0). */
enum {
    CTRL_MODE = 33,
    CTRL_SET_SESS_CACHE_MODE = 44,
    CTRL_SET_TLSEXT_SERVERNAME_CB = 53,
    CTRL_SET_TLSEXT_SERVERNAME_ARG = 54,
    CTRL_SET_TLSEXT_HOSTNAME = 55,
    CTRL_SET_MIN_PROTO_VERSION = 123,
    CTRL_SET_MAX_PROTO_VERSION = 124,
    BIO_CTRL_PENDING = 10,
    BIO_C_SET_BUF_MEM_EOF_RETURN = 130,
    /* SSL_CTX_set_app_data uses ex_data index 0, which OpenSSL reserves for it. */
    APP_DATA_INDEX = 0,
};

#define COSSL_FIELD_X(lib, ret, name, params, args) ret (*name) params;
#define COSSL_FIELD_V(lib, name, params, args) void (*name) params;
typedef struct table {
    COSSL_FUNCTIONS(COSSL_FIELD_X, COSSL_FIELD_V)
} table;

/* Written once under `load_lock` before `installed` is released; read-only afterwards. */
static table fn;
static atomic_int installed;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

#define COSSL_FORWARD_X(lib, ret, name, params, args) ret cossl_##name params { return fn.name args; }
#define COSSL_FORWARD_V(lib, name, params, args) void cossl_##name params { fn.name args; }
COSSL_FUNCTIONS(COSSL_FORWARD_X, COSSL_FORWARD_V)

static void set_detail(char *detail, size_t size, const char *text) {
    if (size > 0) snprintf(detail, size, "%s", text ? text : "unknown error");
}

int cossl_load(const char *ssl_library, const char *crypto_library, char *detail, size_t detail_size) {
    set_detail(detail, detail_size, "");
    pthread_mutex_lock(&load_lock);
    int result = COSSL_LOAD_OK;
    void *ssl = NULL;
    void *crypto = dlopen(crypto_library, RTLD_NOW | RTLD_LOCAL);
    if (!crypto) {
        set_detail(detail, detail_size, dlerror());
        result = COSSL_LOAD_NO_CRYPTO;
        goto done;
    }
    ssl = dlopen(ssl_library, RTLD_NOW | RTLD_LOCAL);
    if (!ssl) {
        set_detail(detail, detail_size, dlerror());
        result = COSSL_LOAD_NO_SSL;
        goto done;
    }
    table loaded;
    void *handles[2] = {crypto, ssl};
#define COSSL_RESOLVE(lib, name) \
    do { \
        void *symbol = dlsym(handles[lib], #name); \
        if (!symbol) { \
            set_detail(detail, detail_size, #name); \
            result = COSSL_LOAD_NO_SYMBOL; \
            goto done; \
        } \
        memcpy(&loaded.name, &symbol, sizeof symbol); \
    } while (0);
#define COSSL_RESOLVE_X(lib, ret, name, params, args) COSSL_RESOLVE(lib, name)
#define COSSL_RESOLVE_V(lib, name, params, args) COSSL_RESOLVE(lib, name)
    COSSL_FUNCTIONS(COSSL_RESOLVE_X, COSSL_RESOLVE_V)
    unsigned long version = loaded.OpenSSL_version_num();
    if (version < 0x30000000UL) {
        char hex[32];
        snprintf(hex, sizeof hex, "0x%08lx", version);
        set_detail(detail, detail_size, hex);
        result = COSSL_LOAD_TOO_OLD;
        goto done;
    }
    if (!atomic_load_explicit(&installed, memory_order_acquire)) {
        fn = loaded;
        atomic_store_explicit(&installed, 1, memory_order_release);
        /* The installed table's libraries stay open for the life of the process. */
        crypto = NULL;
        ssl = NULL;
    }
done:
    if (ssl) dlclose(ssl);
    if (crypto) dlclose(crypto);
    pthread_mutex_unlock(&load_lock);
    return result;
}

long cossl_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return fn.SSL_CTX_ctrl(ctx, CTRL_SET_MIN_PROTO_VERSION, version, NULL);
}

long cossl_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return fn.SSL_CTX_ctrl(ctx, CTRL_SET_MAX_PROTO_VERSION, version, NULL);
}

long cossl_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return fn.SSL_CTX_ctrl(ctx, CTRL_MODE, mode, NULL); }

long cossl_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return fn.SSL_CTX_ctrl(ctx, CTRL_SET_SESS_CACHE_MODE, mode, NULL);
}

long cossl_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, cossl_servername_cb cb, void *arg) {
    void (*generic)(void);
    memcpy(&generic, &cb, sizeof cb);
    if (!fn.SSL_CTX_callback_ctrl(ctx, CTRL_SET_TLSEXT_SERVERNAME_CB, generic)) return 0;
    return fn.SSL_CTX_ctrl(ctx, CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, arg);
}

long cossl_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return fn.SSL_ctrl(ssl, CTRL_SET_TLSEXT_HOSTNAME, COSSL_TLSEXT_NAMETYPE_host_name, (void *)name);
}

size_t cossl_BIO_pending(BIO *b) {
    long pending = fn.BIO_ctrl(b, BIO_CTRL_PENDING, 0, NULL);
    return pending > 0 ? (size_t)pending : 0;
}

long cossl_BIO_set_mem_eof_return(BIO *b, long v) { return fn.BIO_ctrl(b, BIO_C_SET_BUF_MEM_EOF_RETURN, v, NULL); }

static int refuse_password(char *buf, int size, int rwflag, void *userdata) {
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

void cossl_SSL_CTX_refuse_passwords(SSL_CTX *ctx) { fn.SSL_CTX_set_default_passwd_cb(ctx, refuse_password); }

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    const unsigned char *list = arg;
    unsigned int length = ((unsigned int)list[0] << 8) | list[1];
    unsigned char *selected = NULL;
    unsigned char selected_length = 0;
    /* RFC 7301 §3.2: a client that offers protocols, none of which the server speaks, gets the
       fatal no_application_protocol alert, not a connection in a protocol it did not ask for. */
    if (fn.SSL_select_next_proto(&selected, &selected_length, list + 2, length, in, inlen) != 1) {
        return COSSL_SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    *outlen = selected_length;
    return COSSL_SSL_TLSEXT_ERR_OK;
}

void cossl_SSL_CTX_set_alpn_protocols(SSL_CTX *ctx, const unsigned char *list) {
    fn.SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)list);
}

/* Guards every cossl_ticket_keys installed on a context against a concurrent rotation. */
static pthread_mutex_t ticket_keys_lock = PTHREAD_MUTEX_INITIALIZER;

static int ticket_key_with(const cossl_ticket_keys *keys, unsigned char *key_name, unsigned char *iv,
                           EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt);

/* RFC 5077 §4 layout: key name, IV, AES-256-CBC ciphertext, HMAC-SHA256; OpenSSL does the framing. */
static int ticket_key_callback(SSL *ssl, unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cipher,
                               EVP_MAC_CTX *mac, int encrypt) {
    const cossl_ticket_keys *shared = fn.SSL_CTX_get_ex_data(fn.SSL_get_SSL_CTX(ssl), APP_DATA_INDEX);
    if (!shared) return -1;
    /* A copy taken under the lock: a rotation may replace the keys on another thread meanwhile. */
    cossl_ticket_keys copy;
    pthread_mutex_lock(&ticket_keys_lock);
    memcpy(&copy, shared, sizeof copy);
    pthread_mutex_unlock(&ticket_keys_lock);
    int result = ticket_key_with(&copy, key_name, iv, cipher, mac, encrypt);
    explicit_bzero(&copy, sizeof copy);
    return result;
}

static int ticket_key_with(const cossl_ticket_keys *keys, unsigned char *key_name, unsigned char *iv,
                           EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt) {
    if (keys->count < 1) return -1;
    const cossl_ticket_key *key = NULL;
    int result = 1;
    if (encrypt) {
        key = &keys->keys[0];
        if (fn.RAND_bytes(iv, 16) != 1) return -1;
        memcpy(key_name, key->name, COSSL_TICKET_KEY_NAME_LENGTH);
        if (fn.EVP_EncryptInit_ex(cipher, fn.EVP_aes_256_cbc(), NULL, key->aes_key, iv) != 1) return -1;
    } else {
        for (int i = 0; i < keys->count && i < 2; i++) {
            if (memcmp(key_name, keys->keys[i].name, COSSL_TICKET_KEY_NAME_LENGTH) == 0) {
                key = &keys->keys[i];
                /* 2: valid, but issue a fresh ticket under the current key. */
                result = i == 0 ? 1 : 2;
                break;
            }
        }
        if (!key) return 0; /* unknown key: full handshake */
        if (fn.EVP_DecryptInit_ex(cipher, fn.EVP_aes_256_cbc(), NULL, key->aes_key, iv) != 1) return -1;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[3];
    params[0] = fn.OSSL_PARAM_construct_octet_string("key", (void *)key->hmac_key, COSSL_TICKET_HMAC_KEY_LENGTH);
    params[1] = fn.OSSL_PARAM_construct_utf8_string("digest", digest, 0);
    params[2] = fn.OSSL_PARAM_construct_end();
    if (fn.EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    return result;
}

int cossl_SSL_CTX_use_ticket_keys(SSL_CTX *ctx, const cossl_ticket_keys *keys) {
    if (fn.SSL_CTX_set_ex_data(ctx, APP_DATA_INDEX, (void *)keys) != 1) return 0;
    return fn.SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
}

void cossl_ticket_keys_replace(cossl_ticket_keys *installed, const cossl_ticket_keys *keys) {
    pthread_mutex_lock(&ticket_keys_lock);
    memcpy(installed, keys, sizeof *installed);
    pthread_mutex_unlock(&ticket_keys_lock);
}

void cossl_cleanse(void *p, size_t length) { explicit_bzero(p, length); }

long cossl_getrandom(void *buffer, size_t length) { return (long)getrandom(buffer, length, 0); }

/* Owned by its thread: a heap block rather than a thread-local array, so threads that never touch
   TLS cost nothing; the key's destructor frees it when its thread ends. */
static _Thread_local unsigned char *thread_buffer = NULL;
static pthread_key_t thread_buffer_key;
static pthread_once_t thread_buffer_once = PTHREAD_ONCE_INIT;

static void make_thread_buffer_key(void) { (void)pthread_key_create(&thread_buffer_key, free); }

unsigned char *cossl_thread_buffer(void) {
    if (thread_buffer == NULL) {
        pthread_once(&thread_buffer_once, make_thread_buffer_key);
        thread_buffer = malloc(COSSL_THREAD_BUFFER_SIZE);
        if (thread_buffer != NULL) (void)pthread_setspecific(thread_buffer_key, thread_buffer);
    }
    return thread_buffer;
}
