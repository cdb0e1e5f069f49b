// SPDX-License-Identifier: Apache-2.0
//
// Missing-value spellings of the CSV reader: `partd … --na LIST`, as pandas' `read_csv(na_values=…)`.

/// Spellings read as nulls in every column of a CSV file, besides the empty field (a null whatever the spellings):
/// a field is missing when its bytes, quotes undone, are those of a spelling, exactly (case and spaces count), as
/// pandas' `read_csv` matches its `na_values`. A quoted field counts as an unquoted one, since pandas reads `"NA"`
/// as missing too (pandas 3.1, with its C, python and pyarrow engines), as it and we read `""` as a null. The
/// header's names are never missing values (pandas keeps a column named `NA`).
///
/// pandas also takes a numeric spelling for the numbers equal to it (`na_values=["-999"]` makes `-999.0` missing);
/// here a spelling is matched byte for byte alone.
///
/// Reading a field, the parser first looks at its length, last byte and first byte, each against a bit set of the
/// spellings' lengths, last bytes and first bytes (``Filter``), and compares bytes only if all three are among them
/// (a number seldom passes: no default spelling of pandas ends in a digit); nothing is allocated.
package struct MissingValues: Equatable, Sendable {
    /// The spellings pandas' `read_csv` reads as missing by default (`pandas._libs.parsers.STR_NA_VALUES`,
    /// pandas 3.1), less the empty string, a null here anyway: what `pandas` in `--na` stands for.
    package static let pandasDefaults = [
        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
        "NULL", "NaN", "None", "n/a", "nan", "null",
    ]

    /// The spellings, in the order given, each once.
    package let spellings: [String]
    /// The spellings' bytes back to back, and where each ends.
    private let bytes: [UInt8]
    private let ends: [Int]
    /// What a field must be like to be compared with the spellings.
    let filter: Filter

    /// The length, first byte and last byte a spelling has: bit sets of plain values, so that the parser holds
    /// one without reference counting and tests each field against it at the cost of a few instructions.
    struct Filter: SpellingFilter, Equatable, Sendable {
        /// Bit `n` set when a spelling is `n` bytes long (bit 63 for 63 bytes or more); bit 0 is never set.
        var lengths: UInt64 = 0
        /// Bit `b % 64` of lane `b / 64` set when a spelling starts with byte `b`; of `lastBytes`, ends with it.
        var firstBytes = SIMD4<UInt64>()
        var lastBytes = SIMD4<UInt64>()

        /// Whether `source[range]` may be a spelling (never when empty).
        @inline(__always)
        func mayMatch(_ source: [UInt8], _ range: Range<Int>) -> Bool {
            // No spelling is empty, so bit 0 is clear and an empty field stops here.
            guard lengths & (1 &<< UInt64(truncatingIfNeeded: min(range.count, 63))) != 0 else { return false }
            // The last byte first: a number's is a digit, which ends none of pandas' spellings.
            let last = source[range.upperBound - 1]
            guard lastBytes[Int(last &>> 6)] & (1 &<< UInt64(last & 63)) != 0 else { return false }
            let first = source[range.lowerBound]
            return firstBytes[Int(first &>> 6)] & (1 &<< UInt64(first & 63)) != 0
        }
    }

    /// The non-empty ones of `spellings` (told apart by their bytes), or `nil` if none is.
    package init?(_ spellings: some Sequence<String>) {
        var kept: [String] = []
        var seen: Set<[UInt8]> = []
        for spelling in spellings where !spelling.isEmpty && seen.insert(Array(spelling.utf8)).inserted {
            kept.append(spelling)
        }
        guard !kept.isEmpty else { return nil }
        self.spellings = kept
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var filter = Filter()
        for spelling in kept {
            let utf8 = Array(spelling.utf8)
            bytes += utf8
            ends.append(bytes.count)
            filter.lengths |= 1 << UInt64(min(utf8.count, 63))
            filter.firstBytes[Int(utf8[0] >> 6)] |= 1 << UInt64(utf8[0] & 63)
            filter.lastBytes[Int(utf8[utf8.count - 1] >> 6)] |= 1 << UInt64(utf8[utf8.count - 1] & 63)
        }
        self.bytes = bytes
        self.ends = ends
        self.filter = filter
    }

    /// Whether `source[range]` is one of the spellings, byte by byte (after ``Filter/mayMatch(_:_:)``).
    func compare(_ source: [UInt8], _ range: Range<Int>) -> Bool {
        let count = range.count
        var start = 0
        for end in ends {
            if end - start == count {
                var index = 0
                while index < count && bytes[start + index] == source[range.lowerBound + index] { index += 1 }
                if index == count { return true }
            }
            start = end
        }
        return false
    }
}

/// What the CSV parser tests a field with before comparing it with the missing-value spellings.
protocol SpellingFilter {
    /// Whether `source[range]` may be a spelling.
    func mayMatch(_ source: [UInt8], _ range: Range<Int>) -> Bool
}

/// No spellings: the parser's copy for it (the header's, and every record's without `--na`) tests no field.
struct NoSpellings: SpellingFilter {
    @inline(__always)
    func mayMatch(_ source: [UInt8], _ range: Range<Int>) -> Bool { false }
}

/// Parses `--na LIST`: comma-separated spellings, `pandas` standing for ``MissingValues/pandasDefaults``; `nil`
/// (only empty fields are nulls) when `text` is `nil` or holds no spelling.
package func parseMissingValues(_ text: String?) -> MissingValues? {
    guard let text else { return nil }
    return MissingValues(text.split(separator: ",", omittingEmptySubsequences: false).flatMap { item in
        item == "pandas" ? MissingValues.pandasDefaults : [String(item)]
    })
}
