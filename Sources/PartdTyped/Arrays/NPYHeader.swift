// SPDX-License-Identifier: Apache-2.0

/// The header of a NumPy `.npy` file (format 1.0), which every numeric array
/// frame starts with (`docs/format.md` §6.1): magic `\x93NUMPY`, version
/// 1.0, a UInt16 little-endian header length, and a Python dict literal such as
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }` padded with
/// spaces and a newline so that the element bytes start at a multiple of 64.
///
/// The reader accepts exactly that dict grammar (three known keys, quoted
/// strings without escapes, `True`/`False`, tuples of decimal integers) and
/// format versions 1.0 to 3.0; it never evaluates anything.
struct NPYHeader: Equatable {
    var dtype: DType
    var shape: [Int]

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    static let maxDimensions = 32

    /// The header bytes: magic, version, length and the padded dict, in an array with room for `extra` more
    /// bytes (the elements). Written in place: one allocation, no intermediate strings or arrays.
    func encoded(reservingCapacity extra: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + 21 * shape.count + extra)
        bytes.append(contentsOf: NPYHeader.magic)
        bytes.append(1)
        bytes.append(0)
        bytes.append(0)  // the dict's length, set below
        bytes.append(0)
        bytes.append(contentsOf: "{'descr': '".utf8)
        bytes.append(contentsOf: dtype.numpy.utf8)
        bytes.append(contentsOf: "', 'fortran_order': False, 'shape': (".utf8)
        for (index, dimension) in shape.enumerated() {
            if index > 0 { bytes.append(contentsOf: ", ".utf8) }
            bytes.append(contentsOf: String(dimension).utf8)
        }
        bytes.append(contentsOf: shape.count == 1 ? ",), }".utf8 : "), }".utf8)
        let unpadded = bytes.count + 1
        bytes.append(contentsOf: repeatElement(0x20, count: (64 - unpadded % 64) % 64))
        bytes.append(0x0A)
        let dictLength = bytes.count - 10
        bytes[8] = UInt8(truncatingIfNeeded: dictLength)
        bytes[9] = UInt8(truncatingIfNeeded: dictLength >> 8)
        return bytes
    }

    /// Parses the header at the start of `bytes`; returns it and its length
    /// in bytes. Throws a message (the caller adds key and offset).
    static func parse(_ bytes: ArraySlice<UInt8>) throws(HeaderError) -> (header: NPYHeader, length: Int) {
        let start = bytes.startIndex
        guard bytes.count >= 10, bytes.prefix(6).elementsEqual(magic) else {
            throw HeaderError("not a .npy array frame (bad magic)")
        }
        let major = bytes[start + 6]
        let dictStart: Int
        let dictLength: Int
        switch major {
        case 1:
            dictStart = start + 10
            dictLength = Int(bytes[start + 8]) | Int(bytes[start + 9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw HeaderError("the .npy header is cut off") }
            dictStart = start + 12
            dictLength = (0..<4).reduce(0) { $0 | Int(bytes[start + 8 + $1]) << (8 * $1) }
        default:
            throw HeaderError(".npy format version \(major).\(bytes[start + 7]) is not supported")
        }
        guard dictLength <= bytes.endIndex - dictStart else {
            throw HeaderError("the .npy header claims \(dictLength) bytes but only \(bytes.endIndex - dictStart) follow")
        }
        var parser = DictParser(bytes: bytes[dictStart..<(dictStart + dictLength)])
        let header = try parser.parse()
        return (header, dictStart + dictLength - start)
    }

    struct HeaderError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// A recursive-descent reader of the `.npy` header dict's closed grammar.
private struct DictParser {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    typealias HeaderError = NPYHeader.HeaderError

    mutating func parse() throws(HeaderError) -> NPYHeader {
        var descr: String?
        var fortran: Bool?
        var shape: [Int]?
        try expect(UInt8(ascii: "{"))
        while true {
            skipSpace()
            if peek() == UInt8(ascii: "}") { index += 1; break }
            let key = try quoted()
            try expect(UInt8(ascii: ":"))
            switch key {
            case "descr":
                guard descr == nil else { throw HeaderError("the .npy header repeats 'descr'") }
                descr = try quoted()
            case "fortran_order":
                guard fortran == nil else { throw HeaderError("the .npy header repeats 'fortran_order'") }
                fortran = try boolean()
            case "shape":
                guard shape == nil else { throw HeaderError("the .npy header repeats 'shape'") }
                shape = try tuple()
            default:
                throw HeaderError("the .npy header has an unknown key '\(key)'")
            }
            skipSpace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "}"))
            break
        }
        while index < bytes.endIndex {
            guard bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x00 else {
                throw HeaderError("unexpected bytes after the .npy header dict")
            }
            index += 1
        }
        guard let descr, let fortran, let shape else {
            throw HeaderError("the .npy header lacks one of 'descr', 'fortran_order', 'shape'")
        }
        guard let dtype = DType(numpy: descr) else {
            throw HeaderError("unsupported dtype '\(descr)' (supported: |b1, |i1, <i2…<i8, |u1, <u2…<u8, <f2, <f4, <f8, <M8[s|ms|us|ns])")
        }
        guard !fortran || shape.count <= 1 else {
            throw HeaderError("Fortran-ordered arrays are not supported")
        }
        return NPYHeader(dtype: dtype, shape: shape)
    }

    func peek() -> UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    mutating func skipSpace() {
        while let b = peek(), b == 0x20 { index += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(HeaderError) {
        skipSpace()
        guard peek() == byte else {
            throw HeaderError("malformed .npy header: expected '\(Character(Unicode.Scalar(byte)))' at byte \(index - bytes.startIndex)")
        }
        index += 1
    }

    mutating func quoted() throws(HeaderError) -> String {
        skipSpace()
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw HeaderError("malformed .npy header: expected a quoted string at byte \(index - bytes.startIndex)")
        }
        index += 1
        let start = index
        while let b = peek(), b != quote {
            guard b >= 0x20, b < 0x7F, b != UInt8(ascii: "\\") else {
                throw HeaderError("malformed .npy header: unexpected byte in a string")
            }
            index += 1
            guard index - start <= 64 else { throw HeaderError("malformed .npy header: a string is too long") }
        }
        guard peek() == quote else { throw HeaderError("malformed .npy header: unterminated string") }
        index += 1
        return String(decoding: bytes[start..<(index - 1)], as: UTF8.self)
    }

    mutating func boolean() throws(HeaderError) -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] where bytes[index...].starts(with: word.utf8) {
            index += word.utf8.count
            return value
        }
        throw HeaderError("malformed .npy header: expected True or False")
    }

    mutating func tuple() throws(HeaderError) -> [Int] {
        try expect(UInt8(ascii: "("))
        var dims: [Int] = []
        while true {
            skipSpace()
            if peek() == UInt8(ascii: ")") { index += 1; break }
            var value = 0
            var digits = 0
            while let b = peek(), b >= 0x30, b <= 0x39 {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(b - 0x30))
                guard !o1, !o2 else { throw HeaderError("malformed .npy header: a dimension is too large") }
                value = sum
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw HeaderError("malformed .npy header: expected a dimension") }
            dims.append(value)
            guard dims.count <= NPYHeader.maxDimensions else {
                throw HeaderError("the .npy header has more than \(NPYHeader.maxDimensions) dimensions")
            }
            skipSpace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: ")"))
            break
        }
        return dims
    }
}
