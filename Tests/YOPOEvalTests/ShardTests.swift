import Foundation
import XCTest

@testable import YOPOEval

final class ShardTests: XCTestCase {
    /// LLaVA's `get_chunk(list(range(10)), 3, k)` for k = 0, 1, 2 (python3 on its split_list):
    /// [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]; with 4 chunks [0, 1, 2], [3, 4, 5], [6, 7, 8], [9].
    func testContiguousIsLLaVAsGetChunk() throws {
        let items = Array(0..<10)
        XCTAssertEqual(
            try (0..<3).map { try Shard(parsing: "\($0)/3", strided: false).select(items) }, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(
            try (0..<4).map { try Shard(parsing: "\($0)/4", strided: false).select(items) }, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]])
        // 6 chunks of ceil(10/6) = 2 leave only 5: LLaVA raises IndexError for index 5, here it is empty.
        XCTAssertEqual(try Shard(parsing: "4/6", strided: false).select(items), [8, 9])
        XCTAssertEqual(try Shard(parsing: "5/6", strided: false).select(items), [])
        XCTAssertEqual(try Shard(parsing: "0/1", strided: false).select(items), items)
        XCTAssertEqual(try Shard(parsing: "2/3", strided: false).select([Int]()), [])
    }

    func testStrided() throws {
        let items = Array(0..<10)
        XCTAssertEqual(try (0..<3).map { try Shard(parsing: "\($0)/3", strided: true).select(items) }, [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]])
        XCTAssertEqual(try Shard(parsing: "1/3", strided: true), Shard(index: 1, count: 3, strided: true))
        XCTAssertEqual(try Shard(parsing: "1/3", strided: true).description, "1/3 strided")
    }

    func testParsingErrors() {
        XCTAssertEqual(
            errorDescription { try Shard(parsing: "1-3", strided: false) },
            "unsupported: shard \"1-3\" is not i/n (a 0-based index i of n shards, e.g. 0/3)")
        XCTAssertEqual(
            errorDescription { try Shard(parsing: "3/3", strided: false) }, "unsupported: shard \"3/3\": the index must be 0 to 2 (0-based)"
        )
        XCTAssertEqual(
            errorDescription { try Shard(parsing: "-1/3", strided: false) },
            "unsupported: shard \"-1/3\": the index must be 0 to 2 (0-based)")
        XCTAssertEqual(
            errorDescription { try Shard(parsing: "0/0", strided: false) },
            "unsupported: shard \"0/0\": the shard count must be 1 to 100000")
        XCTAssertEqual(
            errorDescription { try Shard(parsing: "0/3/1", strided: false) },
            "unsupported: shard \"0/3/1\" is not i/n (a 0-based index i of n shards, e.g. 0/3)")
    }
}
