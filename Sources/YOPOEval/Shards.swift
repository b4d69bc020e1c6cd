import Foundation

/// One part of a benchmark run (`--shard i/n`): the questions one job answers.
///
/// Contiguous shards are LLaVA's `--num-chunks n --chunk-idx i` (`get_chunk` in its eval scripts):
/// chunks of `ceil(count / n)` items in order, the last one shorter; when that leaves fewer than `n`
/// chunks (10 items in 6 chunks of 2 make 5), the reference raises IndexError for the later indices,
/// here they are empty, so every index of a job array is a valid job. Strided shards take items `i`,
/// `i + n`, `i + 2n`, … (as lmms-eval's ranks), which balances questions whose lengths drift along
/// the file. Either way `AnswerFile.merge` restores the question order.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based, as LLaVA's `--chunk-idx`.
    public var index: Int
    public var count: Int
    public var strided: Bool

    /// The whole file as one shard.
    public static let whole = Shard(index: 0, count: 1, strided: false)

    public init(index: Int, count: Int, strided: Bool) {
        self.index = index
        self.count = count
        self.strided = strided
    }

    /// Parses `"i/n"` with 0 ≤ i < n (both decimal integers, n ≤ 100,000). Throws
    /// `EvalError.unsupported` naming the text and what is wrong.
    public init(parsing text: String, strided: Bool) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw EvalError.unsupported("shard \"\(text)\" is not i/n (a 0-based index i of n shards, e.g. 0/3)")
        }
        guard n >= 1, n <= 100_000 else { throw EvalError.unsupported("shard \"\(text)\": the shard count must be 1 to 100000") }
        guard i >= 0, i < n else { throw EvalError.unsupported("shard \"\(text)\": the index must be 0 to \(n - 1) (0-based)") }
        self.init(index: i, count: n, strided: strided)
    }

    public var description: String { "\(index)/\(count)\(strided ? " strided" : "")" }

    /// The positions of this shard's items among `total` items, ascending.
    public func positions(total: Int) -> [Int] {
        if strided { return Array(stride(from: index, to: total, by: count)) }
        let size = (total + count - 1) / count
        let start = index * size
        guard size > 0, start < total else { return [] }
        return Array(start..<min(start + size, total))
    }

    /// This shard's items, in their order.
    public func select<T>(_ items: [T]) -> [T] {
        positions(total: items.count).map { items[$0] }
    }
}
