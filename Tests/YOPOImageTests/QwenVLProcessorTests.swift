import Foundation
import XCTest

@testable import YOPOImage

/// Qwen2-VL / Qwen2.5-VL preprocessing against transformers 5.24's `Qwen2VLImageProcessorPil`
/// (Tests/Fixtures/images/qwen, written by Tools/reference/make_qwen_image_fixtures.py).
final class QwenVLProcessorTests: XCTestCase {
    struct Manifest: Decodable {
        struct Resize: Decodable {
            var height: Int
            var width: Int
            var factor: Int
            var min_pixels: Int
            var max_pixels: Int
            var result: [Int]?
            var error: String?
        }
        struct Pixels: Decodable {
            var file: String
            var min_pixels: Int
            var max_pixels: Int
            var grid_thw: [Int]
            var shape: [Int]
            var fnv: String
            var first: [Float]
        }
        var smart_resize: [Resize]
        var pixels: [Pixels]
    }

    static let directory = Fixtures.root.appendingPathComponent("qwen")
    static let manifest: Manifest = try! JSONDecoder().decode(
        Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))

    /// FAMILIES.md's vectors (70×70 → 56×56 with half-to-even rounding, 1080×1920 → 1092×1932 …),
    /// the aspect-ratio refusals and 300 random sizes, budgets and factors.
    func testSmartResizeEqualsTransformers() {
        XCTAssertEqual(Self.manifest.smart_resize.count, 318)
        var errors = 0
        for c in Self.manifest.smart_resize {
            let label = "\(c.height)x\(c.width) factor \(c.factor) pixels \(c.min_pixels)...\(c.max_pixels)"
            do {
                let (h, w) = try QwenVLImageProcessor.smartResize(
                    height: c.height, width: c.width, factor: c.factor, minPixels: c.min_pixels, maxPixels: c.max_pixels)
                XCTAssertEqual([h, w], c.result, label)
            } catch {
                errors += 1
                XCTAssertNotNil(c.error, "\(label): \(error)")
                XCTAssertTrue("\(error)".contains("aspect ratio"), "\(error)")
            }
        }
        XCTAssertEqual(errors, Self.manifest.smart_resize.filter { $0.error != nil }.count)
        XCTAssertGreaterThanOrEqual(errors, 2)
        let first = Self.manifest.smart_resize[0]
        XCTAssertEqual([first.height, first.width, first.result![0], first.result![1]], [70, 70, 56, 56])
    }

    /// Every bundled photo and four synthetic shapes (wide, thin, portrait, odd-sized) under three
    /// pixel budgets: grid and every float32 value equal transformers' (FNV-1a-64 of the tensor).
    func testPixelValuesEqualTransformers() throws {
        XCTAssertEqual(Self.manifest.pixels.count, 33)
        for p in Self.manifest.pixels {
            var config = QwenVLImageProcessorConfig()
            config.minPixels = p.min_pixels
            config.maxPixels = p.max_pixels
            let out = try QwenVLImageProcessor(config: config).preprocess(contentsOf: Fixtures.path(p.file))
            let label = "\(p.file) \(p.min_pixels)...\(p.max_pixels)"
            XCTAssertEqual(out.gridTHW, p.grid_thw, label)
            XCTAssertEqual([out.patchCount, out.patchDimension], p.shape, label)
            XCTAssertEqual(Array(out.values.prefix(8)), p.first, label)
            XCTAssertEqual(fnv1a64(out.values), p.fnv, label)
        }
    }

    /// The whole tensor of the 97×61 JPEG value by value (it also pins the patch order).
    func testOddSizedImageValueByValue() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("odd_size.f32"))
        let expected: [Float] = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
        let out = try QwenVLImageProcessor().preprocess(contentsOf: Fixtures.path("synthetic/odd_size.jpg"))
        XCTAssertEqual(out.gridTHW, [1, 4, 6])
        XCTAssertEqual(out.values.count, expected.count)
        XCTAssertEqual(zip(out.values, expected).filter { $0.0.bitPattern != $0.1.bitPattern }.count, 0)
    }

    /// The processor config transformers 5.24 saves (5.x `size` form) and the legacy
    /// `min_pixels` / `max_pixels` keys, which override `size`; bad values are named.
    func testConfigForms() throws {
        let saved = try JSONDecoder().decode(
            QwenVLImageProcessorConfig.self, from: Data(contentsOf: Self.directory.appendingPathComponent("preprocessor_config.json")))
        XCTAssertEqual(saved, .qwen2VL7B)
        let legacy = try JSONDecoder().decode(
            QwenVLImageProcessorConfig.self,
            from: Data(#"{"size": {"shortest_edge": 100, "longest_edge": 200000}, "min_pixels": 3136, "max_pixels": 1003520}"#.utf8))
        XCTAssertEqual([legacy.minPixels, legacy.maxPixels], [3136, 1_003_520])
        XCTAssertEqual(try JSONDecoder().decode(QwenVLImageProcessorConfig.self, from: Data("{}".utf8)), QwenVLImageProcessorConfig())
        func message(_ json: String) -> String {
            do {
                _ = try JSONDecoder().decode(QwenVLImageProcessorConfig.self, from: Data(json.utf8))
                return "decoded"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(
            message(#"{"max_pixels": 0}"#).contains("max_pixels must be an integer from 1 to 67108864"), message(#"{"max_pixels": 0}"#))
        XCTAssertTrue(message(#"{"min_pixels": 5000, "max_pixels": 4000}"#).contains("min_pixels is 5000, above max_pixels 4000"))
        XCTAssertTrue(message(#"{"size": 224}"#).contains("size must be an object with shortest_edge and longest_edge"))
        XCTAssertTrue(message(#"{"image_std": [0.2, 0, 0.2]}"#).contains("image_std must be 3 finite numbers above 0"))
        XCTAssertTrue(message(#"{"patch_size": 1000}"#).contains("patch_size must be an integer from 1 to 64"))
    }

    /// An image more elongated than 200:1 is refused with one line, as transformers refuses it.
    func testTooElongatedImageIsRefused() throws {
        let image = RGBImage(width: 201, height: 1, color: (10, 20, 30))
        XCTAssertThrowsError(try QwenVLImageProcessor().preprocess(image, source: "strip.png")) { error in
            XCTAssertEqual("\(error)", "strip.png: image 201x1 has aspect ratio 201.0; Qwen2-VL's processor allows at most 200")
        }
        let grid = try QwenVLImageProcessor().mergedGrid(width: 1920, height: 1080)
        XCTAssertEqual([grid.rows, grid.columns, grid.rows * grid.columns], [39, 69, 2691])
    }
}
