// swift-tools-version:6.1
import PackageDescription

// Every target's dependencies are exactly the modules it imports.
// Matrix products go through a system BLAS: OpenBLAS (pkg-config `openblas`) on Linux,
// Accelerate on Apple platforms; bf16 products through oneDNN (libdnnl) on Linux. Image decoding through libjpeg-turbo and libpng.
let package = Package(
    name: "YOPO",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "YOPO", targets: ["YOPO"]),
        .library(name: "YOPOCore", targets: ["YOPOCore"]),
        .library(name: "YOPOFormats", targets: ["YOPOFormats"]),
        .library(name: "YOPOImage", targets: ["YOPOImage"]),
        .library(name: "YOPOText", targets: ["YOPOText"]),
        .library(name: "YOPOEngine", targets: ["YOPOEngine"]),
        .library(name: "YOPOModels", targets: ["YOPOModels"]),
        .library(name: "YOPOPruning", targets: ["YOPOPruning"]),
        .library(name: "YOPOEval", targets: ["YOPOEval"]),
        .library(name: "YOPOServer", targets: ["YOPOServer"]),
        .executable(name: "yopo", targets: ["yopo"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The server only (YOPOServer): HTTP, metrics, Prometheus text.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CImageCodecs", path: "Sources/CImageCodecs", pkgConfig: "libpng",
            providers: [.apt(["libjpeg62-turbo-dev", "libpng-dev"]), .brew(["jpeg-turbo", "libpng"])]),
        // Own kernels (half-precision GEMV, conversions) and the oneDNN bf16 matmul front.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [
                .linkedLibrary("dnnl", .when(platforms: [.linux])),
                .linkedLibrary("gomp", .when(platforms: [.linux]))
            ]),
        .target(
            name: "YOPOCore",
            dependencies: ["CKernels", .target(name: "CBLAS", condition: .when(platforms: [.linux]))],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "YOPOFormats", dependencies: ["YOPOCore"]),
        .target(name: "YOPOImage", dependencies: ["CImageCodecs"]),
        .target(name: "YOPOText", dependencies: ["YOPOFormats"]),
        // The family-neutral decoder: plans, prefill, decode step, KV cache. Knows no family and no method.
        .target(name: "YOPOEngine", dependencies: ["YOPOCore"]),
        .target(
            name: "YOPOPruning", dependencies: ["YOPOCore", "YOPOFormats", "YOPOEngine"],
            exclude: ["LICENSE-yopo-official"]),
        .target(
            name: "YOPOModels",
            dependencies: ["YOPOCore", "YOPOFormats", "YOPOImage", "YOPOText", "YOPOEngine"]),
        // Benchmark files, prompts, answer files and metrics (docs/EVAL.md). Knows no model.
        .target(name: "YOPOEval", dependencies: ["YOPOText"]),
        .target(
            name: "YOPO",
            dependencies: [
                "YOPOEval", "YOPOModels", "YOPOCore", "YOPOFormats", "YOPOImage", "YOPOText", "YOPOPruning", "CKernels",
                .product(name: "Logging", package: "swift-log")
            ]),
        // `yopo serve`: the OpenAI-compatible server over `Session` (docs/SERVER.md). Its own target so
        // the core's targets and tests never build Hummingbird.
        .target(
            name: "YOPOServer",
            dependencies: [
                "YOPO", "YOPOCore", "YOPOPruning", "YOPOText", "YOPOImage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ]),
        .executableTarget(
            name: "yopo",
            dependencies: [
                "YOPO", "YOPOServer", "YOPOEval", "YOPOPruning", "YOPOModels", "YOPOCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .testTarget(name: "YOPOCoreTests", dependencies: ["YOPOCore", "YOPOFormats"]),
        // Test-only helpers shared by several test targets (a PNG writer for hostile images).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "YOPOImageTests", dependencies: ["YOPOImage", "TestSupport"]),
        .testTarget(name: "YOPOTextTests", dependencies: ["YOPOText"]),
        // Test-only: counts heap allocations (interposes glibc's malloc in the test process).
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(
            name: "YOPOModelsTests",
            dependencies: [
                "YOPOModels", "YOPOEngine", "YOPOFormats", "YOPOCore", "YOPOPruning", "YOPOImage", "YOPOText", "AllocationCounter"
            ]),
        .testTarget(name: "YOPOPruningTests", dependencies: ["YOPOPruning", "YOPOCore", "YOPOFormats"]),
        .testTarget(name: "YOPOEvalTests", dependencies: ["YOPOEval", "YOPOText"]),
        .testTarget(
            name: "YOPOServerTests",
            dependencies: [
                "YOPOServer", "YOPO", "YOPOPruning", "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird")
            ],
            // The router test client's closures are @Sendable; XCTestCase is not.
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "yopoTests", dependencies: ["YOPO", "YOPOPruning", "YOPOModels", "YOPOEngine", "YOPOCore", "YOPOText", "TestSupport"])
    ]
)
