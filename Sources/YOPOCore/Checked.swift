import Foundation

/// The product of non-negative `factors`; nil when one is nil or negative, or the product leaves
/// 64 bits. For sizes read from files or options (nil propagates, so checked expressions nest).
/// The variadic arguments make an array: not for the allocation-free decode step.
public func checkedProduct(_ factors: Int?...) -> Int? {
    var result = 1
    for factor in factors {
        guard let factor, factor >= 0 else { return nil }
        let (p, overflow) = result.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        result = p
    }
    return result
}

/// The sum of non-negative `terms`; nil when one is nil or negative, or the sum leaves 64 bits.
public func checkedSum(_ terms: Int?...) -> Int? {
    var result = 0
    for term in terms {
        guard let term, term >= 0 else { return nil }
        let (s, overflow) = result.addingReportingOverflow(term)
        if overflow { return nil }
        result = s
    }
    return result
}
