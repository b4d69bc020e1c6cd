import Foundation
import XCTest
@testable import YOPOImage

/// Parity with transformers 5.24 `CLIPImageProcessorPil` (336, CLIP mean/std) in both LLaVA modes.
final class PreprocessingTests: XCTestCase {
    let decoder = ImageDecoder()
    let processor = try! ImagePreprocessor(config: .clipViTLarge336)

    private func photos() -> [Manifest.Image] { Fixtures.manifest.images.filter { !$0.file.contains("/") } }

    /// Every bundled photo, pad and crop: 336×336 uint8 equal to Pillow's, 0 differing bytes.
    func testResizedPhotosEqualPillowByteForByte() throws {
        XCTAssertEqual(photos().count, 7)
        for image in photos() {
            let rgb = try decoder.decode(contentsOf: Fixtures.path(image.file))
            for mode in SquareMode.allCases {
                let resized = try processor.resizeAndCrop(rgb, mode: mode)
                XCTAssertEqual([resized.width, resized.height], [336, 336], image.file)
                let expected = try Fixtures.goldenBytes(try XCTUnwrap(image.golden(mode).resized))
                let diff = byteDifferences(resized.pixels, expected)
                XCTAssertEqual(diff.count, 0, "\(image.file) \(mode): \(diff.count) bytes differ, max \(diff.maxAbs)")
            }
        }
    }

    /// Every image (photos and synthetic, incl. portrait, 200×20 and 3×150), both modes: the uint8
    /// result and the float32 tensor are bit-identical to transformers' (FNV-1a fingerprints).
    func testEveryImageMatchesTransformersFingerprints() throws {
        var mismatches: [String] = []
        for image in Fixtures.manifest.images {
            let rgb = try decoder.decode(contentsOf: Fixtures.path(image.file))
            for mode in SquareMode.allCases {
                let resized = try processor.resizeAndCrop(rgb, mode: mode)
                if fnv1a64(resized.pixels) != image.golden(mode).resized_fnv { mismatches.append("\(image.file) \(mode) uint8") }
                let pixels = processor.normalize(resized)
                if fnv1a64(pixels.values) != image.golden(mode).pixels_fnv { mismatches.append("\(image.file) \(mode) float32") }
            }
        }
        XCTAssertEqual(mismatches, [])
    }

    /// Full float32 tensors from transformers for chelsea (451×300, so pad and crop differ).
    func testPixelTensorsWithinOneMillionth() throws {
        let image = try XCTUnwrap(Fixtures.manifest.images.first { $0.file == "chelsea.png" })
        for mode in SquareMode.allCases {
            let expected = try Fixtures.goldenFloats(try XCTUnwrap(image.golden(mode).pixels))
            let pixels = try processor.preprocess(contentsOf: Fixtures.path(image.file), mode: mode)
            XCTAssertEqual(pixels.shape, [3, 336, 336])
            XCTAssertEqual(pixels.values.count, expected.count)
            var maxAbs: Float = 0, differing = 0
            for (a, b) in zip(pixels.values, expected) {
                maxAbs = max(maxAbs, abs(a - b))
                if a.bitPattern != b.bitPattern { differing += 1 }
            }
            XCTAssertLessThanOrEqual(maxAbs, 1e-6, "\(mode)")
            XCTAssertEqual(differing, 0, "\(mode): \(differing) values not bit-identical")
        }
    }

    /// The other photos' tensors, value by value, through transformers' own per-value table.
    func testPhotoTensorsFollowTransformersValueTable() throws {
        let table = try normalizeTable()
        for image in photos() {
            let rgb = try decoder.decode(contentsOf: Fixtures.path(image.file))
            for mode in SquareMode.allCases {
                let resizedGolden = try Fixtures.goldenBytes(try XCTUnwrap(image.golden(mode).resized))
                let pixels = try processor.preprocess(rgb, mode: mode)
                var maxAbs: Float = 0
                for c in 0..<3 {
                    for i in 0..<(336 * 336) {
                        let expected = try XCTUnwrap(table[c][resizedGolden[3 * i + c]])
                        maxAbs = max(maxAbs, abs(pixels.values[c * 336 * 336 + i] - expected))
                    }
                }
                XCTAssertLessThanOrEqual(maxAbs, 1e-6, "\(image.file) \(mode)")
            }
        }
    }

    /// All 256 byte values of every channel, rescaled and normalised by transformers: exact.
    func testNormalizationMatchesTransformersForEveryByte() throws {
        let spec = Fixtures.manifest.normalize_table
        let input = try RGBImage(width: spec.width, height: spec.height, pixels: try Fixtures.goldenBytes(spec.input))
        let expected = try Fixtures.goldenFloats(spec.pixels)
        let small = try ImagePreprocessor(config: ImagePreprocessorConfig(size: .shortestEdge(16), cropHeight: 16, cropWidth: 16))
        let got = try small.preprocess(input, mode: .crop)
        XCTAssertEqual(got.values.map(\.bitPattern), expected.map(\.bitPattern))
        // Spot values: byte 0 of R is (0 − 0.48145466) / 0.26862954 in float32.
        XCTAssertEqual(got.values[0], Float(-1.7922626), accuracy: 1e-7)
        // A lone white pixel maps to the table entries where each channel held 255:
        // R at index 255, G (255 − i) at 0, B (37·i mod 256) at 83.
        XCTAssertEqual(
            small.normalize(try RGBImage(width: 1, height: 1, pixels: [255, 255, 255])).values,
            [expected[255], expected[256 + 0], expected[512 + 83]])
        XCTAssertEqual(37 * 83 % 256, 255)
    }

    /// PRE-6: sizes come from the configuration, not a hard-coded 336.
    func testConfiguredSizeIsUsed() throws {
        let p224 = try ImagePreprocessor(config: ImagePreprocessorConfig(size: .shortestEdge(224), cropHeight: 224, cropWidth: 224))
        let rgb = try decoder.decode(contentsOf: Fixtures.path("chelsea.png"))
        for mode in SquareMode.allCases {
            let golden = try XCTUnwrap(Fixtures.manifest.clip224_chelsea[mode.rawValue])
            let resized = try p224.resizeAndCrop(rgb, mode: mode)
            XCTAssertEqual([resized.width, resized.height], [224, 224])
            XCTAssertEqual(fnv1a64(resized.pixels), golden.resized_fnv, "\(mode)")
            XCTAssertEqual(fnv1a64(p224.normalize(resized).values), golden.pixels_fnv, "\(mode)")
        }
    }

    /// PRE-1 / PRE-2: on a non-square image pad keeps the whole picture, crop cuts the long side.
    func testPadAndCropDifferOnNonSquareImages() throws {
        let rgb = try decoder.decode(contentsOf: Fixtures.path("synthetic/wide.png"))  // 200×20
        let padded = try processor.resizeAndCrop(rgb, mode: .pad)
        let cropped = try processor.resizeAndCrop(rgb, mode: .crop)
        XCTAssertNotEqual(padded, cropped)
        // Pad: the 200×200 canvas has the image in rows 90..<110; the top row stays the fill colour.
        XCTAssertTrue(padded[0, 0] == (122, 116, 104))
        XCTAssertTrue(padded[335, 335] == (122, 116, 104))
        // Square photos: both modes give the same pixels.
        let astronaut = try decoder.decode(contentsOf: Fixtures.path("astronaut.png"))
        XCTAssertEqual(try processor.resizeAndCrop(astronaut, mode: .pad), try processor.resizeAndCrop(astronaut, mode: .crop))
    }

    func testPadColorAndResizeArithmetic() throws {
        XCTAssertTrue(processor.padColor == (122, 116, 104))
        XCTAssertEqual(Fixtures.manifest.pad_fill, [122, 116, 104])
        // int(336 · long / short), truncating: 451×300 → 505×336; 640×427 → 503×336 (503.6…).
        XCTAssertTrue(processor.resizedSize(width: 451, height: 300) == (505, 336))
        XCTAssertTrue(processor.resizedSize(width: 640, height: 427) == (503, 336))
        XCTAssertTrue(processor.resizedSize(width: 120, height: 200) == (336, 560))
        XCTAssertTrue(processor.resizedSize(width: 3, height: 150) == (336, 16800))
        XCTAssertTrue(processor.resizedSize(width: 512, height: 512) == (336, 336))
    }

    /// transformers' center_crop offsets, including the zero-padding branch for small images.
    func testCenterCropOffsets() throws {
        let src = fuzzSource(width: 7, height: 4)
        // Larger image: top = (4 − 2) // 2 = 1, left = (7 − 4) // 2 = 1.
        let inner = try src.centerCropped(width: 4, height: 2)
        XCTAssertEqual(inner, try src.cropped(x: 1, y: 1, width: 4, height: 2))
        // Smaller image: 7×4 into 10×9 → placed at left ⌈3/2⌉ = 2, top ⌈5/2⌉ = 3, zeros around.
        let outer = try src.centerCropped(width: 10, height: 9)
        XCTAssertEqual([outer.width, outer.height], [10, 9])
        XCTAssertTrue(outer[1, 3] == (0, 0, 0))
        XCTAssertTrue(outer[2, 3] == src[0, 0])
        XCTAssertTrue(outer[8, 6] == src[6, 3])
        XCTAssertTrue(outer[9, 8] == (0, 0, 0))
        // Mixed: wider than the crop, shorter than it.
        let mixed = try src.centerCropped(width: 3, height: 6)
        XCTAssertTrue(mixed[0, 1] == src[2, 0])
        XCTAssertTrue(mixed[0, 0] == (0, 0, 0))
    }

    // MARK: - Configuration

    /// The preprocessor_config.json that transformers 5.24 writes for llava-hf's CLIP settings.
    func testDecodesTransformersPreprocessorConfig() throws {
        let config = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: try Fixtures.golden("preprocessor_config.json"))
        XCTAssertEqual(config, .clipViTLarge336)
        XCTAssertEqual(config.rescaleFactor, 0.00392156862745098)
    }

    /// openai/clip-vit-large-patch14-336's legacy form: integer `size` and `crop_size`, no rescale keys.
    func testDecodesLegacyIntegerSizes() throws {
        let json = """
            {"crop_size": 336, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 336}
            """
        let config = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, .clipViTLarge336)
        let roundTrip = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: try JSONEncoder().encode(config))
        XCTAssertEqual(roundTrip, config)
    }

    func testConfigDefaultsAndRejections() throws {
        let empty = try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(empty.size, .shortestEdge(224))
        XCTAssertEqual([empty.cropHeight, empty.cropWidth], [224, 224])
        XCTAssertEqual(empty.resample, .bicubic)
        let exact = try JSONDecoder().decode(
            ImagePreprocessorConfig.self,
            from: Data(#"{"size": {"height": 20, "width": 30}, "image_mean": 0.5}"#.utf8))
        XCTAssertEqual(exact.size, .exact(height: 20, width: 30))
        XCTAssertEqual(exact.imageMean, [0.5, 0.5, 0.5])

        for (json, message) in [
            (
                #"{"resample": 0}"#,
                "resample is 0 (NEAREST), which is not supported; allowed: 1 (LANCZOS), 2 (BILINEAR), "
                    + "3 (BICUBIC), 4 (BOX), 5 (HAMMING)"
            ),
            (#"{"image_std": [0.5, 0.5]}"#, "image_std has 2 entries; allowed: a number or a list of 3 numbers (R, G, B)"),
            (
                #"{"size": {"shortest_edge": 336, "longest_edge": 672}}"#,
                "size.longest_edge is not supported; allowed: shortest_edge, or height and width"
            ),
            (#"{"crop_size": {"height": 0, "width": 0}}"#, "crop_size.height is 0; allowed: whole numbers from 1 to 8192")
        ] {
            XCTAssertThrowsError(try JSONDecoder().decode(ImagePreprocessorConfig.self, from: Data(json.utf8))) { error in
                XCTAssertEqual((error as? ImageError)?.description, "image processor setting " + message, json)
            }
        }
    }

    func testSquareModeFromLLaVAConfig() throws {
        XCTAssertEqual(try SquareMode(imageAspectRatio: "pad"), .pad)
        XCTAssertEqual(try SquareMode(imageAspectRatio: nil), .crop)
        XCTAssertEqual(try SquareMode(imageAspectRatio: "square"), .crop)
        assertImageError("image_aspect_ratio 'anyres' is not supported; supported: pad, square") { () throws(ImageError) in
            try SquareMode(imageAspectRatio: "anyres")
        }
    }

    /// Per channel, byte → transformers' float32 value, from the 16×16 table image.
    private func normalizeTable() throws -> [[UInt8: Float]] {
        let spec = Fixtures.manifest.normalize_table
        let input = try Fixtures.goldenBytes(spec.input)
        let values = try Fixtures.goldenFloats(spec.pixels)
        let plane = spec.width * spec.height
        var table = [[UInt8: Float]](repeating: [:], count: 3)
        for c in 0..<3 {
            for i in 0..<plane { table[c][input[3 * i + c]] = values[c * plane + i] }
            XCTAssertEqual(table[c].count, 256)
        }
        return table
    }
}
