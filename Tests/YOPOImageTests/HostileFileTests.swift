import Foundation
import TestSupport
import XCTest
@testable import YOPOImage

/// Issue 11: files that are not images, headers that lie, and bombs (tiny files announcing huge
/// images) fail with one exact message each, before any pixel memory is allocated.
final class HostileFileTests: XCTestCase {
    let decoder = ImageDecoder()
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("yopo-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func png(width: UInt32, height: UInt32, depth: UInt8 = 8, colorType: UInt8 = 2, interlace: UInt8 = 0) -> [UInt8] {
        TestPNG.make(width: width, height: height, depth: depth, colorType: colorType, interlace: interlace)
    }

    // MARK: - Paths that are not image files

    func testEmptyPath() {
        assertImageError("cannot read image: the image path is empty") { () throws(ImageError) in
            try decoder.decode(contentsOf: "")
        }
    }

    func testPathThroughAFile() {
        let through = Fixtures.path("chelsea.png") + "/inside.png"
        assertImageError("cannot read image '\(through)': no such file") { () throws(ImageError) in
            try decoder.decode(contentsOf: through)
        }
    }

    func testSymlinkLoop() throws {
        try FileManager.default.createSymbolicLink(atPath: path("loop.png"), withDestinationPath: path("loop.png"))
        assertImageError("cannot read image '\(path("loop.png"))': Too many levels of symbolic links") { () throws(ImageError) in
            try decoder.decode(contentsOf: path("loop.png"))
        }
    }

    func testDevicesAreRefusedWithoutReading() {
        for device in ["/dev/zero", "/dev/null", "/dev/urandom"] {
            assertImageError("cannot read image '\(device)': it is a device, not an image file") { () throws(ImageError) in
                try decoder.decode(contentsOf: device)
            }
        }
    }

    /// A named pipe nobody writes to reads as "no data" at once instead of blocking forever.
    func testNamedPipeWithoutWriter() throws {
        XCTAssertEqual(mkfifo(path("fifo.png"), 0o600), 0)
        assertImageError("cannot read image '\(path("fifo.png"))': it is a pipe and no data arrived on it") {
            () throws(ImageError) in try decoder.decode(contentsOf: path("fifo.png"))
        }
    }

    /// An image arriving through a pipe (`--image /dev/stdin`, `<(…)`) decodes; an endless one
    /// stops at `maxFileSize`.
    func testPipesAreReadAndBounded() throws {
        signal(SIGPIPE, SIG_IGN)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("synthetic/gray.jpg")))
        let pipe = Pipe()
        DispatchQueue.global().async {
            try? pipe.fileHandleForWriting.write(contentsOf: bytes)
            try? pipe.fileHandleForWriting.close()
        }
        let viaPipe = "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)"
        XCTAssertEqual(try decoder.decode(contentsOf: viaPipe), try decoder.decode(contentsOf: Fixtures.path("synthetic/gray.jpg")))
        try pipe.fileHandleForReading.close()

        let endless = Pipe()
        let chunk = Data(count: 1 << 16)
        DispatchQueue.global().async {
            while (try? endless.fileHandleForWriting.write(contentsOf: chunk)) != nil {}
        }
        let endlessPath = "/dev/fd/\(endless.fileHandleForReading.fileDescriptor)"
        assertImageError("cannot read image '\(endlessPath)': the file is larger than the limit of 100000 bytes") {
            () throws(ImageError) in try ImageDecoder(maxFileSize: 100_000).decode(contentsOf: endlessPath)
        }
        try endless.fileHandleForReading.close()  // the writer stops with EPIPE
    }

    /// A regular file above the limit is refused from its size; a sparse 300 MB file costs nothing.
    func testHugeFileIsRefusedFromItsSize() throws {
        FileManager.default.createFile(atPath: path("huge.png"), contents: Data(TestPNG.make(width: 4, height: 4)))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path("huge.png")))
        try handle.truncate(atOffset: 300_000_000)
        try handle.close()
        assertImageError("cannot read image '\(path("huge.png"))': the file is larger than the limit of 268435456 bytes (256 MiB)") {
            () throws(ImageError) in try decoder.decode(contentsOf: path("huge.png"))
        }
    }

    // MARK: - PNG headers

    func testPNGHeaderFieldsAreNamed() {
        let cases: [([UInt8], String)] = [
            (png(width: 0, height: 5), "corrupt PNG data (IHDR: width is 0; allowed: 1 to 2147483647)"),
            (png(width: 5, height: 0), "corrupt PNG data (IHDR: height is 0; allowed: 1 to 2147483647)"),
            (png(width: 0x8000_0000, height: 1), "corrupt PNG data (IHDR: width is 2147483648; allowed: 1 to 2147483647)"),
            (png(width: 4, height: 4, depth: 7), "corrupt PNG data (IHDR: bit depth 7 is not allowed for RGB images; allowed: 8, 16)"),
            (
                png(width: 4, height: 4, depth: 16, colorType: 3),
                "corrupt PNG data (IHDR: bit depth 16 is not allowed for palette images; allowed: 1, 2, 4, 8)"
            ),
            (
                png(width: 4, height: 4, colorType: 5),
                "corrupt PNG data (IHDR: colour type 5 does not exist; allowed: 0 "
                    + "(greyscale), 2 (RGB), 3 (palette), 4 (greyscale with alpha), 6 (RGBA))"
            ),
            (
                png(width: 4, height: 4, interlace: 2),
                "corrupt PNG data (IHDR: interlace method 2 does not exist; allowed: 0 (none), 1 (Adam7))"
            ),
            (
                TestPNG.make(width: 4, height: 4, ihdr: TestPNG.be32(4) + TestPNG.be32(4) + [8, 2, 1, 0, 0]),
                "corrupt PNG data (IHDR: compression method 1 does not exist; allowed: 0)"
            ),
            (
                TestPNG.make(width: 4, height: 4, ihdr: TestPNG.be32(4) + TestPNG.be32(4) + [8, 2, 0, 3, 0]),
                "corrupt PNG data (IHDR: filter method 3 does not exist; allowed: 0)"
            ),
            (
                TestPNG.make(width: 4, height: 4, ihdr: TestPNG.be32(4) + TestPNG.be32(4) + [8, 2, 0, 0]),
                "corrupt PNG data (IHDR: the header chunk is 12 bytes long; allowed: 13)"
            ),
            (
                png(width: 1_000_001, height: 1),
                "unsupported PNG variant (width 1000001 is more than the 1000000 pixels a side libpng reads)"
            )
        ]
        for (bytes, message) in cases {
            assertImageError("cannot decode image 'x.png': " + message) { () throws(ImageError) in
                try decoder.decode(bytes, source: "x.png")
            }
        }
    }

    // MARK: - Bombs

    /// Tiny files announcing more pixels than the budget, or more than their bytes can hold, fail
    /// before decoding (no allocation: each would otherwise need 67 MB to 537 MB).
    func testBombsFailBeforeDecoding() throws {
        assertImageError(
            "cannot decode image 'x.png': it is 2147483647×2147483647 = 4611686014132420609 pixels, more "
                + "than the 67108864 (8192×8192) allowed"
        ) { () throws(ImageError) in
            try decoder.decode(png(width: 0x7FFF_FFFF, height: 0x7FFF_FFFF), source: "x.png")
        }
        assertImageError(
            "cannot decode image 'x.png': it is 8193×8192 = 67117056 pixels, more than the 67108864 "
                + "(8192×8192) allowed"
        ) { () throws(ImageError) in
            try decoder.decode(png(width: 8193, height: 8192, colorType: 0), source: "x.png")
        }
        // Within the budget but with the pixel data cut to a few bytes: deflate inflates at most 1032:1.
        let header = Array(png(width: 8192, height: 8192, depth: 16, colorType: 6).prefix(33))
        let bomb = header + TestPNG.chunk("IDAT", TestPNG.zlibZeros(count: 100)) + TestPNG.chunk("IEND", [])
        assertImageError(
            "cannot decode image 'x.png': truncated PNG data (the \(bomb.count)-byte file is too short to "
                + "hold a 8192×8192 image)"
        ) { () throws(ImageError) in
            try decoder.decode(bomb, source: "x.png")
        }
        for name in ["synthetic/gray.jpg", "synthetic/progressive.jpg", "synthetic/cmyk.jpg"] {
            let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name))))
            let patched = TestPNG.patchingJPEGFrame(jpeg, width: 8192, height: 8192)
            assertImageError(
                "cannot decode image 'x.jpg': truncated JPEG data (the \(patched.count)-byte file is too "
                    + "short to hold a 8192×8192 image)"
            ) { () throws(ImageError) in
                try decoder.decode(patched, source: "x.jpg")
            }
        }
    }

    /// A highly compressed but complete image is not mistaken for a bomb: 2048 × 2048 zeros in a
    /// 26 KB stream (160:1) decode.
    func testCompressedImageIsNotABomb() throws {
        let bytes = png(width: 2048, height: 2048, colorType: 0)
        XCTAssertLessThan(bytes.count, 30_000)
        let image = try decoder.decode(bytes)
        XCTAssertEqual([image.width, image.height], [2048, 2048])
        XCTAssertEqual(image.pixels.max(), 0)
    }

    func testJPEGHeaderWithZeroSize() throws {
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("rocket.jpg"))))
        assertImageError("cannot decode image 'x.jpg': corrupt JPEG data (the header gives a width or height of 0)") {
            () throws(ImageError) in try decoder.decode(TestPNG.patchingJPEGFrame(jpeg, width: 0, height: 0), source: "x.jpg")
        }
        assertImageError("cannot decode image 'x.jpg': corrupt JPEG data (Unsupported JPEG data precision 12)") {
            () throws(ImageError) in
            try decoder.decode(TestPNG.patchingJPEGFrame(jpeg, width: 640, height: 427, precision: 12), source: "x.jpg")
        }
    }
}
