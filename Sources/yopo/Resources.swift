import Foundation
import YOPO
#if canImport(Glibc)
import Glibc
#endif

/// Memory this process may use, for the up-front estimates of `bench` and `bench-gemm` (a run that
/// cannot fit is refused with one line instead of dying mid-allocation): physical RAM, and the
/// address-space limit (`ulimit -v`, `RLIMIT_AS`), which counts reserved as well as touched memory.
struct MemoryLimits {
    /// Physical RAM, bytes (`sysconf`).
    var physicalBytes: Int
    /// The soft address-space limit, bytes; nil when unlimited.
    var addressSpaceBytes: Int?
    /// Address space this process already has mapped (`VmSize`), bytes; 0 when unknown.
    var mappedBytes: Int
    /// Resident memory of this process now (`VmRSS`), bytes; 0 when unknown.
    var residentBytes: Int

    /// Address space each compute thread reserves (its stack, a malloc arena, BLAS buffers), bytes:
    /// about 140 MiB measured on Linux/glibc with OpenBLAS and libgomp, rounded up.
    static let perThreadReservation = 160 << 20
    /// Headroom kept free under the address-space limit for the runtime and libraries, bytes.
    static let addressSpaceHeadroom = 1 << 30
    /// Most compute threads without an address-space limit.
    static let maxThreads = 256

    static func current() -> MemoryLimits {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        let product = pages.multipliedReportingOverflow(by: pageSize)
        let physical = pages <= 0 || pageSize <= 0 ? 0 : product.overflow ? Int.max : product.partialValue
        var limit = rlimit()
        var addressSpace: Int?
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        // RLIM_INFINITY is all ones; any value beyond Int.max is as good as unlimited.
        if getrlimit(resource, &limit) == 0, limit.rlim_cur < UInt64(Int.max) {
            addressSpace = Int(limit.rlim_cur)
        }
        let status = statusKiB()
        return MemoryLimits(
            physicalBytes: physical, addressSpaceBytes: addressSpace,
            mappedBytes: (status["VmSize"] ?? 0) * 1024, residentBytes: (status["VmRSS"] ?? 0) * 1024)
    }

    /// `/proc/self/status` sizes in KiB (empty off Linux).
    private static func statusKiB() -> [String: Int] {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return [:] }
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let number = parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.flatMap { Int($0) }
            if let number, number >= 0, number < Int.max / 1024 { values[String(parts[0])] = number }
        }
        return values
    }

    /// Most compute threads whose reservations fit the address-space limit (at most `maxThreads`).
    var maxThreads: Int {
        guard let limit = addressSpaceBytes else { return Self.maxThreads }
        return max(1, min(Self.maxThreads, (limit - Self.addressSpaceHeadroom) / Self.perThreadReservation))
    }

    /// `--threads`: 1 to `maxThreads`. Throws `ArgumentError` naming the range and, under an
    /// address-space limit, why it is lower.
    func threads(_ text: String) throws -> Int {
        let most = maxThreads
        do {
            return try OptionValue.integer(text, "threads", min: 1, max: most)
        } catch let error as ArgumentError where error.description.contains("at most") && addressSpaceBytes != nil {
            throw ArgumentError(
                error.description
                    + "; each compute thread reserves about \(Self.perThreadReservation >> 20) MiB of address space and the limit (ulimit -v) is \(Self.gib(addressSpaceBytes!))"
            )
        }
    }

    /// The default thread count (physical cores), within `maxThreads`.
    var defaultThreads: Int { min(physicalCoreCount(), maxThreads) }

    /// Throws an `ArgumentError` "`what` needs about N GiB for `detail`, this machine has M GiB; `hint`"
    /// when `bytes` more (nil: beyond 64 bits) do not fit physical RAM (90 % of it, with what is
    /// resident now) or the address-space limit (with what is mapped now, `threads` threads'
    /// reservations and headroom).
    func require(_ bytes: Int?, threads: Int, what: String, for detail: String, hint: String) throws {
        guard let bytes else {
            throw ArgumentError("\(what) needs more memory than 64-bit sizes can express for \(detail); \(hint)")
        }
        let (physicalNeed, overflow) = residentBytes.addingReportingOverflow(bytes)
        if overflow || Double(physicalNeed) > 0.9 * Double(physicalBytes) {
            throw ArgumentError(
                "\(what) needs about \(Self.gib(bytes)) for \(detail), this machine has \(Self.gib(physicalBytes)); \(hint)")
        }
        if let limit = addressSpaceBytes {
            let base = Double(mappedBytes) + Double(Self.addressSpaceHeadroom) + Double(bytes)
            let perThread = Double(Self.perThreadReservation)
            if base + Double(threads) * perThread > Double(limit) {
                let fitting = Int(((Double(limit) - base) / perThread).rounded(.down))
                if fitting >= 1 {
                    // The threads' reservations, not the run, are what does not fit.
                    throw ArgumentError(
                        "\(what) needs about \(Self.gib(bytes)) for \(detail) and \(threads) threads reserve about \(Self.gib(threads * Self.perThreadReservation)), more than the \(Self.gib(limit)) address-space limit (ulimit -v) leaves; use --threads \(fitting) or fewer"
                    )
                }
                throw ArgumentError(
                    "\(what) needs about \(Self.gib(bytes)) for \(detail), more than the \(Self.gib(limit)) address-space limit (ulimit -v) leaves; \(hint)"
                )
            }
        }
    }

    /// `14.3 GiB`.
    static func gib(_ bytes: Int) -> String { String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
}
