import Synchronization

/// A value shared by threads and tasks behind the standard library's `Mutex`, in a class so that
/// escaping closures can share one (a `Mutex` itself cannot be copied into them).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    /// The value now.
    public var value: Value { mutex.withLock { $0 } }

    /// Replaces the value.
    public func set(_ newValue: Value) { mutex.withLock { $0 = newValue } }
}
