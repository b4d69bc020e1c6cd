import Foundation

/// What kind of file system entry a path names, as far as reading it goes.
enum FileEntryProblem: Error {
    case missing
    case directory
    case notRegular
    case unreadable(String)

    /// The reason, in user terms, a path cannot be read as a file.
    var reason: String {
        switch self {
        case .missing: return "no such file"
        case .directory: return "it is a directory, not a file"
        case .notRegular: return "it is not a regular file (a device, pipe or socket)"
        case .unreadable(let why): return why
        }
    }
}

/// Opens `path` read-only without blocking (a FIFO would otherwise wait for a writer) and checks
/// it is a regular file. Returns the descriptor and the file size; the caller closes the descriptor.
func openRegularFile(_ path: String) -> Result<(fd: Int32, size: Int), FileEntryProblem> {
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT || code == ENOTDIR { return .failure(.missing) }
        if code == EISDIR { return .failure(.directory) }
        return .failure(.unreadable(String(cString: strerror(code))))
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
        close(fd)
        return .failure(.unreadable("cannot stat"))
    }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .success((fd, Int(st.st_size)))
    case S_IFDIR:
        close(fd)
        return .failure(.directory)
    default:
        close(fd)
        return .failure(.notRegular)
    }
}

/// Reads the whole of a small file (a config, an index, a tokenizer file, a `.npy` mask) after
/// checking it is a regular file of at most `limit` bytes, so a directory, `/dev/zero`, a FIFO or a
/// huge file fails with its path named instead of hanging or exhausting memory.
/// - Parameters:
///   - limit: the largest size accepted, in bytes.
///   - kind: names the kind of file in the too-large message (`"config file"`).
/// - Returns: the bytes (possibly empty: callers decide whether an empty file is an error).
/// - Throws: `FormatError.fileNotFound` (no such file), `.unreadable` (a directory, a device, a file
///   larger than `limit`, a read error).
public func readSmallFile(_ path: String, limit: Int, kind: String) throws -> Data {
    guard !path.isEmpty else { throw FormatError.fileNotFound(path) }
    let (fd, size): (Int32, Int)
    switch openRegularFile(path) {
    case .success(let opened): (fd, size) = opened
    case .failure(.missing): throw FormatError.fileNotFound(path)
    case .failure(let problem): throw FormatError.unreadable(path, reason: problem.reason)
    }
    defer { close(fd) }
    guard size <= limit else {
        throw FormatError.unreadable(path, reason: "it is \(size) bytes, more than the \(limit)-byte limit for a \(kind)")
    }
    var data = Data(count: size)
    var done = 0
    let failure: String? = data.withUnsafeMutableBytes { raw -> String? in
        while done < size {
            let n = read(fd, raw.baseAddress! + done, size - done)
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            if n == 0 { break }  // the file shrank while being read
            done += n
        }
        return nil
    }
    if let failure { throw FormatError.unreadable(path, reason: failure) }
    return data.prefix(done)
}
