import Testing
@testable import Worker

@Suite struct TokenTests {
    /// A sync worker's event can wait in a batch while its connection closes and a new one gets the
    /// same descriptor: the serial in the token tells them apart.
    @Test func aTokenCarriesItsKindSerialAndDescriptor() {
        let token = Token.make(Token.connection, 1023, serial: 0xAB_CDEF)
        #expect(Token.kind(token) == Token.connection)
        #expect(Token.fd(token) == 1023)
        #expect(Token.serial(token) == 0xAB_CDEF)
        let next = Token.make(Token.connection, 1023, serial: 0xAB_CDF0)
        #expect(next != token && Token.fd(next) == Token.fd(token))
        #expect(Token.carries(token, serial: 0xAB_CDEF) && !Token.carries(next, serial: 0xAB_CDEF))
        // A serial is compared within its bits: a counter past them still matches its token.
        #expect(Token.carries(Token.make(Token.connection, 3, serial: 0x100_0005), serial: 0x100_0005))
        // Serials wrap within their 24 bits; other kinds keep theirs.
        #expect(Token.serial(Token.make(Token.connection, 7, serial: 0x100_0001)) == 1)
        let wake = Token.make(Token.wake, 12)
        #expect(Token.kind(wake) == Token.wake && Token.fd(wake) == 12 && Token.serial(wake) == 0)
    }
}
