import Foundation
import XCTest
@testable import YOPOImage

/// Issue 11: every buffer between the file and the 336 × 336 output is bounded, elongated images
/// are resized without building the padded square or the full resized image (bit-identical to the
/// materialised pipeline), and each limit fails with its exact message.
final class BoundsTests: XCTestCase {
    /// A deterministic noise image (xorshift), so that fill and image pixels never coincide.
    private func noise(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var state = seed | 1
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<pixels.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            pixels[i] = UInt8(truncatingIfNeeded: state >> 24)
        }
        return try! RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The pipeline as it was before issue 11: materialised square, full resize, centre crop, each
    /// of them Pillow/transformers-exact (the resize is checked against Pillow in ResizeTests).
    private func materialised(_ p: ImagePreprocessor, _ image: RGBImage, _ mode: SquareMode) throws -> RGBImage {
        var current = mode == .pad ? try image.paddedToSquare(fill: p.padColor) : image
        if p.config.doResize {
            let target = p.resizedSize(width: current.width, height: current.height)
            current = try current.resized(width: target.width, height: target.height, filter: p.config.resample)
        }
        if p.config.doCenterCrop { current = try current.centerCropped(width: p.config.cropWidth, height: p.config.cropHeight) }
        return current
    }

    /// Pad and crop modes, every filter, shortest-edge and exact sizes (both pass orders), crops
    /// larger and smaller than the resize, no resize, no crop; square, wide, tall and 1-pixel-thin
    /// images: the windowed, unpadded computation gives exactly the materialised bytes.
    func testWindowedPipelineEqualsMaterialisedPipeline() throws {
        let shapes = [
            (1, 1), (5, 5), (13, 7), (7, 13), (40, 1), (1, 40), (97, 3), (3, 97), (61, 60), (2, 31), (120, 9),
            (9, 120), (33, 34)
        ]
        let configs: [ImagePreprocessorConfig] = [
            .init(size: .shortestEdge(16), cropHeight: 16, cropWidth: 16),
            .init(size: .shortestEdge(7), cropHeight: 5, cropWidth: 9),
            .init(size: .shortestEdge(12), cropHeight: 20, cropWidth: 15),
            .init(size: .shortestEdge(33), cropHeight: 33, cropWidth: 33, resample: .lanczos),
            .init(size: .shortestEdge(10), cropHeight: 10, cropWidth: 10, resample: .bilinear),
            .init(size: .shortestEdge(11), cropHeight: 11, cropWidth: 11, resample: .box),
            .init(size: .shortestEdge(14), cropHeight: 14, cropWidth: 14, resample: .hamming),
            // Exact sizes: a height shrinking much more than the width makes Pillow go vertical first.
            .init(size: .exact(height: 6, width: 30), cropHeight: 6, cropWidth: 30),
            .init(size: .exact(height: 3, width: 25), cropHeight: 2, cropWidth: 20, resample: .lanczos),
            .init(size: .exact(height: 50, width: 4), cropHeight: 50, cropWidth: 4),
            .init(size: .shortestEdge(16), cropHeight: 8, cropWidth: 8, doResize: false),
            .init(size: .shortestEdge(9), cropHeight: 9, cropWidth: 9, doCenterCrop: false)
        ]
        var compared = 0
        for (index, config) in configs.enumerated() {
            let p = try ImagePreprocessor(config: config)
            for (shapeIndex, (w, h)) in shapes.enumerated() {
                let image = noise(width: w, height: h, seed: UInt64(index * 100 + shapeIndex))
                for mode in SquareMode.allCases {
                    let expected = try materialised(p, image, mode)
                    let got = try p.resizeAndCrop(image, mode: mode)
                    XCTAssertEqual(got, expected, "config \(index), \(w)x\(h), \(mode)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 12 * 13 * 2)
    }

    /// Any window of a resize is the same window of the full resize, for both pass orders.
    func testResizeWindowIsASliceOfTheFullResize() throws {
        let source = noise(width: 37, height: 23, seed: 7)
        for (outW, outH) in [(11, 29), (80, 5), (5, 80), (37, 9), (12, 23), (36, 3)] {
            let full = try source.resized(width: outW, height: outH)
            for (xs, ys) in [(0..<outW, 0..<outH), (1..<2, 0..<1), (outW / 3..<outW, outH / 2..<outH), (0..<1, outH - 1..<outH)] {
                let part = try PaddedCanvas(source).resampled(
                    width: outW, height: outH, filter: .bicubic, columns: xs,
                    rows: ys
                ) { _, _, _ in }
                XCTAssertEqual(
                    part, try full.cropped(x: xs.lowerBound, y: ys.lowerBound, width: xs.count, height: ys.count),
                    "\(outW)x\(outH) window \(xs) \(ys)")
            }
        }
    }

    // MARK: - Elongated images

    func testPaddedSquareSideIsBounded() throws {
        let p = try ImagePreprocessor(config: .clipViTLarge336)
        assertImageError(
            "cannot preprocess image 65536×1: it is too elongated to pad to a square; the square would be "
                + "65536×65536 pixels, more than the 65535×65535 allowed"
        ) { () throws(ImageError) in
            try p.resizeAndCrop(RGBImage(width: 65536, height: 1, color: (9, 9, 9)), mode: .pad)
        }
        assertImageError(
            "cannot preprocess image 'tall.png' (2×70000): it is too elongated to pad to a square; the square "
                + "would be 70000×70000 pixels, more than the 65535×65535 allowed"
        ) { () throws(ImageError) in
            try p.resizeAndCrop(RGBImage(width: 2, height: 70000, color: (9, 9, 9)), mode: .pad, source: "tall.png")
        }
        // At the limit it works, without the 65535² square (12 GB). Shrunk 195:1, a 1-pixel line
        // moves no output by a full 8-bit step (its largest weight, 97 rows from the nearest output
        // centre, is K(0.5)/195 ≈ 0.003), so Pillow's result is the plain fill colour.
        let line = try p.resizeAndCrop(RGBImage(width: 65535, height: 1, color: (255, 0, 0)), mode: .pad)
        XCTAssertEqual(line, RGBImage(width: 336, height: 336, color: (122, 116, 104)))
        // At a lower limit, an image exactly at it gives the materialised pipeline's bytes.
        var lower = p
        lower.maxSide = 600
        for image in [noise(width: 600, height: 1, seed: 11), noise(width: 3, height: 600, seed: 12)] {
            XCTAssertEqual(try lower.resizeAndCrop(image, mode: .pad), try materialised(lower, image, .pad))
        }
        assertImageError(
            "cannot preprocess image 601×1: it is too elongated to pad to a square; the square would be "
                + "601×601 pixels, more than the 600×600 allowed"
        ) { () throws(ImageError) in
            try lower.resizeAndCrop(RGBImage(width: 601, height: 1, color: (9, 9, 9)), mode: .pad)
        }
    }

    func testResizedSideIsBounded() throws {
        let p = try ImagePreprocessor(config: .clipViTLarge336)
        // Centre-cropped, the resize is only computed in the crop window: 67200 × 336 is no obstacle.
        // Pillow's sizes are C ints, so a resized side above 2^31 − 1 is refused (1 × 6400000 →
        // 336 × 2150400000), and one too large to compute is reported as such.
        assertImageError(
            "cannot preprocess image 'thin.png' (1×6400000): it is too elongated to resize; the resized "
                + "image would be 336×2150400000 pixels, more than 2147483647 pixels a side allowed"
        ) { () throws(ImageError) in
            try p.resizeAndCrop(RGBImage(width: 1, height: 6_400_000, color: (1, 2, 3)), mode: .crop, source: "thin.png")
        }
        XCTAssertTrue(p.resizedSize(width: 1, height: 1 << 62) == (336, Int.max))
        XCTAssertEqual(
            ImageError.resizedImageTooLarge(
                source: nil, width: 1, height: 1 << 62, resizedWidth: 336,
                resizedHeight: Int.max, limit: 65535
            ).description,
            "cannot preprocess image 1×4611686018427387904: it is too elongated to resize; the resized image "
                + "would be too large to compute, more than 65535 pixels a side allowed")
        // Without the centre crop the resized image is built in full and maxSide applies; just
        // below it the result equals the materialised pipeline.
        var full = try ImagePreprocessor(
            config: .init(
                size: .shortestEdge(16), cropHeight: 16, cropWidth: 16,
                doCenterCrop: false))
        full.maxSide = 1000
        assertImageError(
            "cannot preprocess image 63×1: it is too elongated to resize; the resized image would be "
                + "1008×16 pixels, more than 1000 pixels a side allowed"
        ) { () throws(ImageError) in
            try full.resizeAndCrop(RGBImage(width: 63, height: 1, color: (1, 2, 3)), mode: .crop)
        }
        let fits = noise(width: 62, height: 1, seed: 5)
        XCTAssertEqual(try full.resizeAndCrop(fits, mode: .crop), try materialised(full, fits, .crop))
        // With the crop, the same maxSide no longer refuses it, and the window equals the full resize cropped.
        var cropped = try ImagePreprocessor(config: .init(size: .shortestEdge(16), cropHeight: 16, cropWidth: 16))
        cropped.maxSide = 1000
        let long = noise(width: 63, height: 1, seed: 6)
        XCTAssertEqual(try cropped.resizeAndCrop(long, mode: .crop), try materialised(cropped, long, .crop))
    }

    /// Issue 11 review: crop mode used to refuse 200 × 1 ("67200×336 … more than 65535 pixels a
    /// side") although it never builds the resized image. These now give the 336 × 336 crop, the
    /// 200 × 1 one byte for byte as the materialised (Pillow-exact) pipeline.
    func testElongatedImagesPreprocessInCropMode() throws {
        let p = try ImagePreprocessor(config: .clipViTLarge336)
        for (w, h) in [(200, 1), (1, 200), (8000, 1), (1, 8000), (60000, 1)] {
            let values = try p.preprocess(noise(width: w, height: h, seed: UInt64(w + h)), mode: .crop)
            XCTAssertEqual(values.shape, [3, 336, 336], "\(w)x\(h)")
            XCTAssertEqual(values.values.count, 3 * 336 * 336)
        }
        let line = noise(width: 200, height: 1, seed: 21)
        XCTAssertEqual(try p.resizeAndCrop(line, mode: .crop), try materialised(p, line, .crop))
    }

    func testWorkingBuffersAreBounded() throws {
        var p = try ImagePreprocessor(config: .clipViTLarge336)
        p.maxWorkingPixels = 1000
        assertImageError(
            "cannot preprocess image 20×20: the centre crop would need 112896 pixels of working memory, "
                + "more than the 1000 allowed"
        ) { () throws(ImageError) in
            try p.resizeAndCrop(RGBImage(width: 20, height: 20, color: (0, 0, 0)), mode: .crop)
        }
        // Pad mode, tall image: the horizontal pass keeps one 336-pixel row per image row.
        p.maxWorkingPixels = 336 * 336
        assertImageError(
            "cannot preprocess image 'p.png' (2×500): the horizontal resize pass would need 168000 pixels "
                + "of working memory, more than the 112896 (336×336) allowed"
        ) { () throws(ImageError) in
            try p.resizeAndCrop(RGBImage(width: 2, height: 500, color: (0, 0, 0)), mode: .pad, source: "p.png")
        }
        // The public helpers that do materialise are bounded too.
        let image = fuzzSource(width: 30, height: 2)
        assertImageError(
            "cannot preprocess image 30×2: padding it to a square would need 900 pixels of working memory, "
                + "more than the 899 allowed"
        ) { () throws(ImageError) in
            try image.paddedToSquare(fill: (0, 0, 0), maxPixelCount: 899)
        }
        assertImageError(
            "cannot preprocess image 30×2: the resized image would need 100000000 pixels of working memory, "
                + "more than the 67108864 (8192×8192) allowed"
        ) { () throws(ImageError) in
            try image.resized(width: 10_000, height: 10_000)
        }
        assertImageError(
            "cannot preprocess image 30×2: the centre crop would need 400000000 pixels of working memory, "
                + "more than the 67108864 (8192×8192) allowed"
        ) { () throws(ImageError) in
            try image.centerCropped(width: 20_000, height: 20_000)
        }
        assertImageError(
            "cannot preprocess image 30×2: the vertical resize weights would need 250000 pixels of "
                + "working memory, more than the 100000 allowed"
        ) { () throws(ImageError) in
            try image.resized(width: 1, height: 50_000, maxPixelCount: 100_000).width
        }
    }
}
