import Foundation
import XCTest

@testable import YOPOFormats

/// Hostile safetensors headers, shard indexes and `.npy` files fail with the exact reason, never a
/// trap or an unbounded allocation (issue 11).
final class SafetensorsHeaderTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-formats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// A safetensors file: `length` (default: the header's) as u64, the header, `data` bytes.
    func file(_ header: String, data: Int = 16, length: UInt64? = nil, name: String = "t.safetensors") throws -> String {
        var bytes = Data()
        var n = (length ?? UInt64(header.utf8.count)).littleEndian
        bytes.append(Data(bytes: &n, count: 8))
        bytes.append(Data(header.utf8))
        bytes.append(Data(count: data))
        let url = scratch.appendingPathComponent(name)
        try bytes.write(to: url)
        return url.path
    }

    func assertCorrupt(_ path: String, _ reason: String, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(path: path), line: line) { e in
            XCTAssertEqual(e as? FormatError, .corrupt(path, reason: reason), line: line)
        }
    }

    func testValidHeaderReadsShapesAndRanges() throws {
        let p = try file(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"format":"pt"}}"#)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.tensors["a"]?.shape, [2, 2])
        XCTAssertEqual(f.tensors["a"]?.byteRange, (8 + 88)..<(8 + 88 + 16))
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(try f.load("a").count, 4)
    }

    func testHeaderLengthAtOrAbove2To63IsRejectedNotTrapped() throws {
        for length: UInt64 in [1 << 63, UInt64.max, UInt64(Int.max)] {
            let p = try file("{}", length: length)
            assertCorrupt(p, "header length \(length) exceeds the file size 26")
        }
        assertCorrupt(try file("{}", length: 0), "header length is 0")
        let short = scratch.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        assertCorrupt(short.path, "shorter than the 8-byte header length (3 bytes)")
    }

    func testHeaderMustBeAJSONObject() throws {
        assertCorrupt(try file("[1, 2]"), "header is not a JSON object")
        assertCorrupt(try file("{nope"), "header is not valid JSON")
        assertCorrupt(try file(#"{"a": 5}"#), "header entry a is not an object")
        assertCorrupt(try file(#"{"a": {"shape": [1], "data_offsets": [0, 4]}}"#), "tensor a has no dtype string")
        assertCorrupt(try file(#"{"a": {"dtype": "F32", "data_offsets": [0, 4]}}"#), "tensor a has no shape list")
    }

    func testDataOffsetsNearIntMaxOrNegativeAreRejected() throws {
        let huge = Int.max
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[\#(huge - 3),\#(huge)]}}"#),
            "tensor a lies outside the file (truncated?): data_offsets [\(huge - 3), \(huge)], data section of 16 bytes")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#),
            "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [-4, 0]")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#),
            "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [8, 4]")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}"#),
            "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [0, 18446744073709551615]")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#),
            "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [0, 4.5]")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#),
            "tensor a: data_offsets must be two integers 0 ≤ begin ≤ end, found [0]")
    }

    func testNegativeOrNonIntegerDimensionsAreRejected() throws {
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}}"#),
            "tensor a: shape [-1, 4] must list non-negative integers")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[2,"x"],"data_offsets":[0,16]}}"#),
            "tensor a: shape [2, \"x\"] must list non-negative integers")
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,16]}}"#),
            "tensor a: shape [1e+30] must list non-negative integers")
    }

    func testElementCountOverflowIsRejected() throws {
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}}"#),
            "tensor a: shape [4294967296, 4294967296, 4] has more elements than a 64-bit count holds")
        // The count fits, the byte count (× 4) does not.
        assertCorrupt(
            try file(#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}"#),
            "tensor a: 16 bytes for shape [4611686018427387904] F32")
        // Tensors of dtypes that cannot be loaded are checked too.
        assertCorrupt(
            try file(#"{"a":{"dtype":"I64","shape":[3],"data_offsets":[0,16]}}"#),
            "tensor a: 16 bytes for shape [3] I64")
    }

    func testFilesThatAreNotRegularFiles() throws {
        let dir = scratch.appendingPathComponent("dir.safetensors")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafetensorsFile(path: dir.path)) { e in
            XCTAssertEqual(e as? FormatError, .unreadable(dir.path, reason: "it is a directory, not a file"))
            XCTAssertEqual("\(e)", "cannot read \(dir.path): it is a directory, not a file")
        }
        XCTAssertThrowsError(try SafetensorsFile(path: "/dev/zero")) { e in
            XCTAssertEqual(e as? FormatError, .unreadable("/dev/zero", reason: "it is not a regular file (a device, pipe or socket)"))
        }
        let fifo = scratch.appendingPathComponent("fifo.safetensors").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try SafetensorsFile(path: fifo), "a FIFO is refused without waiting for a writer") { e in
            XCTAssertEqual(e as? FormatError, .unreadable(fifo, reason: "it is not a regular file (a device, pipe or socket)"))
        }
        let empty = scratch.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        assertCorrupt(empty.path, "file is empty")
    }

    // MARK: sharded index

    func index(_ json: String) throws -> String {
        let dir = scratch.appendingPathComponent("sharded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(json.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        return dir.path
    }

    func assertIndexCorrupt(_ json: String, _ reason: String, line: UInt = #line) throws {
        let dir = try index(json)
        XCTAssertThrowsError(try SafetensorsArchive(directory: dir), line: line) { e in
            XCTAssertEqual(e as? FormatError, .corrupt(dir + "/model.safetensors.index.json", reason: reason), line: line)
        }
    }

    func testIndexMustMapTensorNamesToShardFiles() throws {
        try assertIndexCorrupt("not json", "not valid JSON")
        try assertIndexCorrupt("[1]", "must be a JSON object with a weight_map, found [1]")
        try assertIndexCorrupt(#"{"metadata": {}}"#, "no weight_map object")
        try assertIndexCorrupt(#"{"weight_map": ["a"]}"#, "weight_map must be an object of tensor name → shard file, found [\"a\"]")
        try assertIndexCorrupt(#"{"weight_map": {"a": 5}}"#, "weight_map entry a must name a shard file (a string), found 5")
        try assertIndexCorrupt(#"{"weight_map": {"a": ""}}"#, "weight_map entry a must name a shard file (a string), found \"\"")
        try assertIndexCorrupt(#"{"weight_map": {"a": "x.safetensors"}}"#, "shard x.safetensors is listed but missing")
        try assertIndexCorrupt("", "file is empty")
    }

    func testIndexShardThatIsADirectoryOrDevice() throws {
        let dir = try index(#"{"weight_map": {"a": "shard"}}"#)
        try FileManager.default.createDirectory(atPath: dir + "/shard", withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafetensorsArchive(directory: dir)) { e in
            XCTAssertEqual("\(e)", "cannot read \(dir)/shard: it is a directory, not a file")
        }
        let zero = try index(#"{"weight_map": {"a": "zero.safetensors"}}"#)
        try FileManager.default.createSymbolicLink(atPath: zero + "/zero.safetensors", withDestinationPath: "/dev/zero")
        XCTAssertThrowsError(try SafetensorsArchive(directory: zero)) { e in
            XCTAssertEqual("\(e)", "cannot read \(zero)/zero.safetensors: it is not a regular file (a device, pipe or socket)")
        }
    }

    func testIndexThatIsADirectoryOrDevice() throws {
        let dir = scratch.appendingPathComponent("index-dir").path
        try FileManager.default.createDirectory(atPath: dir + "/model.safetensors.index.json", withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafetensorsArchive(directory: dir)) { e in
            XCTAssertEqual(e as? FormatError, .unreadable(dir + "/model.safetensors.index.json", reason: "it is a directory, not a file"))
        }
        let zero = scratch.appendingPathComponent("index-zero").path
        try FileManager.default.createDirectory(atPath: zero, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: zero + "/model.safetensors.index.json", withDestinationPath: "/dev/zero")
        XCTAssertThrowsError(try SafetensorsArchive(directory: zero), "/dev/zero is not read to the end") { e in
            XCTAssertEqual(
                e as? FormatError,
                .unreadable(
                    zero + "/model.safetensors.index.json",
                    reason: "it is not a regular file (a device, pipe or socket)"))
        }
    }

    func testSmallFileLimit() throws {
        let url = scratch.appendingPathComponent("big.json")
        try Data(count: 101).write(to: url)
        XCTAssertThrowsError(try readSmallFile(url.path, limit: 100, kind: "config file")) { e in
            XCTAssertEqual(
                e as? FormatError, .unreadable(url.path, reason: "it is 101 bytes, more than the 100-byte limit for a config file"))
        }
        XCTAssertEqual(try readSmallFile(url.path, limit: 101, kind: "config file").count, 101)
        XCTAssertThrowsError(try readSmallFile("", limit: 100, kind: "config file")) { e in
            XCTAssertEqual("\(e)", "file not found: the path is empty")
        }
    }
}

final class NPYHeaderTests: XCTestCase {
    /// A version-1 `.npy` whose header is `header` (padded as NumPy does) followed by `data` bytes.
    func npy(_ header: String, data: [UInt8] = [], headerLength: Int? = nil) -> Data {
        var h = Array(header.utf8)
        while (10 + h.count + 1) % 64 != 0 { h.append(0x20) }
        h.append(0x0A)
        let n = headerLength ?? h.count
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + h + data)
    }

    func assertCorrupt(_ data: Data, _ reason: String, line: UInt = #line) {
        XCTAssertThrowsError(try NPYArray(data: data, path: "m.npy"), line: line) { e in
            XCTAssertEqual(e as? FormatError, .corrupt("m.npy", reason: reason), line: line)
        }
    }

    func testValidShapes() throws {
        let a = try NPYArray(data: npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", data: [1, 0, 1, 0, 0, 1]))
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.bools, [true, false, true, false, false, true])
        XCTAssertEqual(try NPYArray(data: npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", data: [7, 8, 9])).shape, [3])
        XCTAssertEqual(try NPYArray(data: npy("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", data: [7])).values, [7])
    }

    func testNegativeOrNonIntegerShapes() {
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (-1, 4), }"),
            "shape (-1, 4) must be a tuple of non-negative integers")
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3, x), }"),
            "shape (3, x) must be a tuple of non-negative integers")
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,, 4), }"),
            "shape (3,, 4) must be a tuple of non-negative integers")
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (99999999999999999999, 1), }"),
            "shape (99999999999999999999, 1) must be a tuple of non-negative integers")
    }

    func testOverflowingOrHugeShapesAreBoundedBeforeAllocation() {
        assertCorrupt(
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }"),
            "shape (4294967296, 4294967296, 4) has a dimension over the 16777216-element limit")
        assertCorrupt(
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (16777216, 16777216), }"),
            "shape (16777216, 16777216) holds more than 16777216 elements")
        // A zero dimension does not let another one be unbounded.
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (1000000000000, 0), }"),
            "shape (1000000000000, 0) has a dimension over the 16777216-element limit")
        assertCorrupt(
            npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 1000), }", data: [0, 0]),
            "data holds 2 bytes, shape [1000, 1000] needs 8000000")
    }

    func testHeaderLengthPastTheFile() {
        assertCorrupt(
            npy("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", headerLength: 65535),
            "header length 65535 runs past the end of the file (128 bytes)")
        assertCorrupt(
            Data([0x93] + Array("NUMPY".utf8) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            "header length 4294967295 runs past the end of the file (12 bytes)")
        assertCorrupt(Data([0x93] + Array("NUMPY".utf8) + [7, 0, 0, 0]), "unsupported .npy version 7")
        assertCorrupt(Data("not a numpy file".utf8), "not a .npy file (bad magic)")
    }

    func testFilesThatAreNotRegularFiles() throws {
        XCTAssertThrowsError(try NPYArray(path: "/dev/zero")) { e in
            XCTAssertEqual(e as? FormatError, .unreadable("/dev/zero", reason: "it is not a regular file (a device, pipe or socket)"))
        }
        XCTAssertThrowsError(try NPYArray(path: "/tmp")) { e in
            XCTAssertEqual(e as? FormatError, .unreadable("/tmp", reason: "it is a directory, not a file"))
        }
        XCTAssertThrowsError(try NPYArray(path: "/nonexistent/m.npy")) { e in
            XCTAssertEqual(e as? FormatError, .fileNotFound("/nonexistent/m.npy"))
        }
    }
}
