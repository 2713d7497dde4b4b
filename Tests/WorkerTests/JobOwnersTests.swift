import Testing
@testable import Worker

/// The loop's job → request table, checked against a `Dictionary` through inserts, replacements,
/// removals and the rebuilds they cause.
@Suite struct JobOwnersTests {
    final class Owner {
        let id: Int
        init(_ id: Int) { self.id = id }
    }

    @Test func behavesLikeADictionary() {
        var table = JobOwners<Owner>(capacity: 4)
        var model: [UInt: Owner] = [:]
        var generator = SystemRandomNumberGenerator()
        // Addresses as a heap hands them out: 16-byte aligned, clustered.
        let addresses = (1...3000).map { UInt(0x7f00_0000_0000) + UInt($0) * 16 * UInt.random(in: 1...3, using: &generator) }
        for round in 0..<20_000 {
            let key = addresses[Int.random(in: 0..<addresses.count, using: &generator)]
            let pointer = UnsafeMutableRawPointer(bitPattern: key)!
            if Bool.random(using: &generator) || round % 7 == 0 {
                table[pointer] = nil
                model[key] = nil
            } else {
                let owner = Owner(round)
                table[pointer] = owner
                model[key] = owner
            }
            #expect(table.count == model.count)
        }
        for key in addresses {
            #expect(table[UnsafeMutableRawPointer(bitPattern: key)!] === model[key])
        }
    }

    @Test func emptiesAndRefills() {
        var table = JobOwners<Owner>()
        let owners = (0..<500).map(Owner.init)
        for round in 0..<5 {
            for (i, owner) in owners.enumerated() { table[UnsafeMutableRawPointer(bitPattern: 0x1000 + i * 32)!] = owner }
            #expect(table.count == owners.count)
            #expect(table[UnsafeMutableRawPointer(bitPattern: 0x1000 + 7 * 32)!] === owners[7])
            for i in owners.indices { table[UnsafeMutableRawPointer(bitPattern: 0x1000 + i * 32)!] = nil }
            #expect(table.count == 0, "round \(round)")
            #expect(table[UnsafeMutableRawPointer(bitPattern: 0x1000)!] == nil)
        }
    }
}
