/// A Bloom filter over strings: `mayContain` is false only for strings never inserted.
struct BloomFilter: Sendable {
    private var words: [UInt64]
    private let bitCount: Int
    private let hashes: Int

    init(bits: Int, hashes: Int) {
        words = [UInt64](repeating: 0, count: (bits + 63) / 64)
        bitCount = words.count * 64
        self.hashes = hashes
    }

    mutating func insert(_ value: String) {
        for bit in bits(of: value) { words[bit >> 6] |= 1 << UInt64(bit & 63) }
    }

    func mayContain(_ value: String) -> Bool {
        bits(of: value).allSatisfy { words[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }
    }

    /// `hashes` bit positions from two hashes (Kirsch–Mitzenmacher double hashing).
    private func bits(of value: String) -> [Int] {
        var first = Hasher()
        first.combine(value)
        var second = Hasher()
        second.combine(0x9E37_79B9_7F4A_7C15 as UInt64)
        second.combine(value)
        let a = UInt64(bitPattern: Int64(first.finalize())), b = UInt64(bitPattern: Int64(second.finalize())) | 1
        return (0..<hashes).map { Int((a &+ UInt64($0) &* b) % UInt64(bitCount)) }
    }
}
