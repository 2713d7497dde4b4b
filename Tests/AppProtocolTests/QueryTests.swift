import Testing
@testable import AppProtocol

@Suite struct QueryTests {
    @Test func encodedNamesMatchTheirDecodedForm() {
        let query = Query("a%62=1&a+b=2&ab=3&c%3D=4")
        #expect(query.values(for: "ab") == ["1", "3"])
        #expect(query["a b"] == "2")
        #expect(query["c="] == "4")
        #expect(query["a%62"] == nil)
    }

    @Test func emptyPartsAndEqualSignsInValues() {
        let query = Query("&&k=a=b&&empty=&flag&")
        #expect(query["k"] == "a=b")
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query[""] == nil)
        // A pair with an empty name is found by the empty name, and only by it.
        let unnamed = Query("=v&a=1&ab=2")
        #expect(unnamed[""] == "v")
        #expect(unnamed["a"] == "1")
        #expect(unnamed["ab"] == "2")
        #expect(unnamed["abc"] == nil)
        #expect(query.pairs.map(\.name) == ["k", "empty", "flag"])
    }

    @Test func lookupsAgreeWithThePairs() {
        let query = Query("x=1&y=%E2%9C%93&x=2&z&x=")
        for name in ["x", "y", "z", "w"] {
            #expect(query.values(for: name) == query.pairs.filter { $0.name == name }.map(\.value))
        }
        #expect(query["y"] == "✓")
    }
}
