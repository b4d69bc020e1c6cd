import Foundation
import XCTest
@testable import YOPOImage

/// Tests/Fixtures/images, located from this file (Tests/YOPOImageTests/Fixtures.swift), so the
/// tests run from any working directory and read only committed files.
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func golden(_ name: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent("goldens").appendingPathComponent(name))
    }

    static func goldenBytes(_ name: String) throws -> [UInt8] { [UInt8](try golden(name)) }

    /// A little-endian float32 file.
    static func goldenFloats(_ name: String) throws -> [Float] {
        let data = try golden(name)
        precondition(data.count % 4 == 0)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }

    static let manifest: Manifest = {
        do {
            return try JSONDecoder().decode(Manifest.self, from: golden("manifest.json"))
        } catch {
            fatalError("cannot read \(root.path)/goldens/manifest.json: \(error)")
        }
    }()
}

/// goldens/manifest.json, written by Tools/reference/make_image_fixtures.py.
struct Manifest: Decodable {
    struct ModeGolden: Decodable {
        let resized_fnv: String
        let pixels_fnv: String
        let resized: String?
        let pixels: String?
    }
    struct Image: Decodable {
        let file: String
        let format: String
        let pillow_mode: String
        let width: Int
        let height: Int
        let decoded_fnv: String
        let decoded: String?
        let pad: ModeGolden
        let crop: ModeGolden
        func golden(_ mode: SquareMode) -> ModeGolden { mode == .pad ? pad : crop }
    }
    struct Table: Decodable {
        let input: String
        let pixels: String
        let width: Int
        let height: Int
    }
    struct FuzzCase: Decodable {
        let `in`: [Int]
        let out: [Int]
        let filter: String
        let fnv: String?
        let file: String?
    }
    let pillow: String
    let transformers: String
    let side: Int
    let pad_fill: [Int]
    let images: [Image]
    let clip224_chelsea: [String: ModeGolden]
    let normalize_table: Table
    let fuzz_source_31x17_fnv: String
    let fuzz: [FuzzCase]
    let fuzz_full: [FuzzCase]
}

/// 64-bit FNV-1a, as 16 lower-case hex digits (the fingerprint the generator writes).
func fnv1a64<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01b3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

func fnv1a64(_ floats: [Float]) -> String {
    floats.withUnsafeBufferPointer { buf in
        var bytes = [UInt8]()
        bytes.reserveCapacity(buf.count * 4)
        for f in buf {
            let u = f.bitPattern.littleEndian
            bytes.append(UInt8(truncatingIfNeeded: u))
            bytes.append(UInt8(truncatingIfNeeded: u >> 8))
            bytes.append(UInt8(truncatingIfNeeded: u >> 16))
            bytes.append(UInt8(truncatingIfNeeded: u >> 24))
        }
        return fnv1a64(bytes)
    }
}

/// Number of differing bytes and the largest absolute difference.
func byteDifferences(_ a: [UInt8], _ b: [UInt8]) -> (count: Int, maxAbs: Int) {
    precondition(a.count == b.count)
    var count = 0, maxAbs = 0
    for i in 0..<a.count where a[i] != b[i] {
        count += 1
        maxAbs = max(maxAbs, abs(Int(a[i]) - Int(b[i])))
    }
    return (count, maxAbs)
}

/// The resampling fuzz source of make_image_fixtures.py (`fuzz_source`): channel 0 hashed noise,
/// channel 1 a horizontal ramp, channel 2 5×3 blocks of 0/255.
func fuzzSource(width w: Int, height h: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h {
        for x in 0..<w {
            var v = ((UInt64(x) &* 73_856_093) ^ (UInt64(y) &* 19_349_663)) & 0xFFFF_FFFF
            v = ((v ^ (v >> 13)) &* 0x5BD1_E995) & 0xFFFF_FFFF
            v ^= v >> 15
            let i = (y * w + x) * 3
            pixels[i] = UInt8(v & 255)
            pixels[i + 1] = UInt8(truncatingIfNeeded: x * 255 / max(w - 1, 1))
            pixels[i + 2] = ((x / 5 + y / 3) % 2) == 0 ? 0 : 255
        }
    }
    return try! RGBImage(width: w, height: h, pixels: pixels)
}

/// Asserts that `body` throws an `ImageError` whose one-line message is exactly `message`.
func assertImageError<T>(
    _ message: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(ImageError) -> T
) {
    do {
        _ = try body()
        XCTFail("expected error: \(message)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.description, message, file: file, line: line)
    }
}
