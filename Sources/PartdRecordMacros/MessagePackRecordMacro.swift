// SPDX-License-Identifier: Apache-2.0

import SwiftCompilerPlugin
import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxMacros

/// `@MessagePackRecord` on a `Codable` struct: writes the type's `MessagePackRecord` members
/// (`messagePackFields`, `pack(into:)`, `init(unpacking:)`) from its stored properties, or from its
/// `CodingKeys` when it declares them, so that they always match what the synthesised `Codable` form encodes.
public struct MessagePackRecordMacro: ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax,
        attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol,
        conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        guard let structDecl = declaration.as(StructDeclSyntax.self) else {
            context.diagnose(Diagnostic(node: node, message: RecordDiagnostic.notAStruct))
            return []
        }
        if let custom = customCoding(in: structDecl) {
            context.diagnose(Diagnostic(node: custom, message: RecordDiagnostic.customCoding))
            return []
        }
        if let conditional = conditionalStoredProperty(in: structDecl.memberBlock.members) {
            context.diagnose(Diagnostic(node: conditional, message: RecordDiagnostic.conditionalProperty))
            return []
        }
        let stored = storedProperties(of: structDecl)
        guard let fields = fields(of: structDecl, stored: stored, in: context) else { return [] }

        let access = accessModifier(of: structDecl)
        let names = fields.map { "\(StringLiteralExprSyntax(content: $0.key))" }.joined(separator: ", ")
        let packs = fields.map { "writer.pack(self.\($0.property))" }.joined(separator: "\n")
        let unpacks = fields.map { "self.\($0.property) = try reader.unpack()" }.joined(separator: "\n")
        // The conformances the struct does not declare itself. `MessagePackField`, which `MessagePackRecord` refines,
        // is stated too: a conditional conformance does not imply it, and the compiler leaves it to the macro.
        let added = ["MessagePackRecord", "MessagePackField"].filter { (name: String) in
            protocols.contains { $0.trimmedDescription == name || $0.trimmedDescription.hasSuffix("." + name) }
        }
        // A generic parameter that a field's type names must be a field itself for the members to compile: the
        // conformance is conditional on it (`Box<Int>` is a record, `Box<SomeCodable>` stays plain `Codable`).
        // (Also when the struct states the conformances itself, conditionally: the members need the same clause.)
        let constrained = fieldGenericParameters(of: structDecl, fields: fields, stored: stored)
        let requirements = constrained.isEmpty
            ? "" : " where " + constrained.map { "\($0): PartdTyped.MessagePackField" }.joined(separator: ", ")
        let conformance = (added.isEmpty ? "" : ": " + added.map { "PartdTyped.\($0)" }.joined(separator: ", ")) + requirements
        let decl: DeclSyntax = """
            extension \(type.trimmed)\(raw: conformance) {
                \(raw: access)static var messagePackFields: [String] { [\(raw: names)] }

                \(raw: access)func pack(into writer: inout PartdTyped.MessagePackWriter) {
                    \(raw: packs)
                }

                \(raw: access)init(unpacking reader: inout PartdTyped.MessagePackReader) throws {
                    \(raw: unpacks)
                }
            }
            """
        return [decl.cast(ExtensionDeclSyntax.self)]
    }

    /// A stored property, as far as the record cares.
    struct StoredProperty {
        /// Its name (without backticks: the name `Codable` writes) and its spelling (with them, if written so).
        let name: String
        let spelling: String
        let binding: PatternBindingSyntax
        let isLazy: Bool
        /// The name of a property wrapper (or other custom attribute) on it, which changes what `Codable` writes.
        let wrapper: String?
        /// A `let` with an initial value: `Codable` encodes it but never decodes it.
        let isInitializedLet: Bool
    }

    /// A field of the record: a `CodingKeys` case (or stored property) and the property it reads and writes
    /// (its name, and its spelling in the generated code).
    struct Field {
        let key: String
        let name: String
        var property: String
    }

    /// An identifier's name: its text without the backticks that let it be a keyword (`` `default` ``).
    static func unescaped(_ token: TokenSyntax) -> String {
        let text = token.text
        guard text.count >= 2, text.hasPrefix("`"), text.hasSuffix("`") else { return text }
        return String(text.dropFirst().dropLast())
    }

    /// The instance stored properties, in declaration order.
    static func storedProperties(of decl: StructDeclSyntax) -> [StoredProperty] {
        var result: [StoredProperty] = []
        for member in decl.memberBlock.members {
            guard let variable = member.decl.as(VariableDeclSyntax.self),
                !variable.modifiers.contains(where: { ["static", "class"].contains($0.name.text) })
            else { continue }
            let isLet = variable.bindingSpecifier.tokenKind == .keyword(.let)
            let isLazy = variable.modifiers.contains { $0.name.text == "lazy" }
            // Custom attributes are capitalised (property wrappers, attached macros); built-in ones are not.
            let wrapper = variable.attributes.lazy.compactMap { $0.as(AttributeSyntax.self)?.attributeName.trimmedDescription }
                .first { $0.first?.isUppercase == true }
            for binding in variable.bindings {
                guard let identifier = binding.pattern.as(IdentifierPatternSyntax.self)?.identifier, isStored(binding)
                else { continue }
                result.append(StoredProperty(
                    name: unescaped(identifier), spelling: identifier.text, binding: binding, isLazy: isLazy, wrapper: wrapper,
                    isInitializedLet: isLet && binding.initializer != nil))
            }
        }
        return result
    }

    /// A `#if` among `members` that declares an instance stored property: which clause is compiled is not
    /// known when the macro expands, so the fields `Codable` synthesises are not known either.
    static func conditionalStoredProperty(in members: MemberBlockItemListSyntax) -> Syntax? {
        for member in members {
            guard let ifConfig = member.decl.as(IfConfigDeclSyntax.self) else { continue }
            for clause in ifConfig.clauses {
                guard case .decls(let decls)? = clause.elements else { continue }
                for item in decls {
                    if let variable = item.decl.as(VariableDeclSyntax.self),
                        !variable.modifiers.contains(where: { ["static", "class"].contains($0.name.text) }),
                        variable.bindings.contains(where: isStored)
                    {
                        return Syntax(ifConfig)
                    }
                }
                if conditionalStoredProperty(in: decls) != nil { return Syntax(ifConfig) }
            }
        }
        return nil
    }

    /// The struct's own `encode(to:)` or `init(from:)`, if it writes one: the macro cannot know what it writes.
    static func customCoding(in decl: StructDeclSyntax) -> Syntax? {
        for member in decl.memberBlock.members {
            if let function = member.decl.as(FunctionDeclSyntax.self), function.name.text == "encode",
                function.signature.parameterClause.parameters.first?.firstName.text == "to"
            {
                return Syntax(function)
            }
            if let initializer = member.decl.as(InitializerDeclSyntax.self),
                initializer.signature.parameterClause.parameters.first?.firstName.text == "from"
            {
                return Syntax(initializer)
            }
        }
        return nil
    }

    /// Whether a binding stores its value (no accessors, or only observers).
    static func isStored(_ binding: PatternBindingSyntax) -> Bool {
        guard let accessors = binding.accessorBlock?.accessors else { return true }
        switch accessors {
        case .getter: return false
        case .accessors(let list):
            return list.allSatisfy { [.keyword(.willSet), .keyword(.didSet)].contains($0.accessorSpecifier.tokenKind) }
        }
    }

    /// Why a spelled-out field type cannot be a record field (`nil` if it may be one). Optionals, arrays and sets
    /// may be if what they hold may be, dictionaries if their keys are `String` or `Int` too; a named type that
    /// is not a `MessagePackField` is the compiler's error.
    static func unsupportedKind(_ type: TypeSyntax) -> String? {
        // `Optional<T>`, `Array<T>`, `Set<T>` and `Dictionary<K, V>` are told apart by name, as `T?`, `[T]` and
        // `[K: V]` are by syntax.
        let named = type.as(IdentifierTypeSyntax.self)
        let generic = named?.genericArgumentClause == nil ? nil : named?.name.text
        let arguments = named?.genericArgumentClause?.arguments.compactMap { $0.argument.as(TypeSyntax.self) } ?? []
        if let wrapped = type.as(OptionalTypeSyntax.self)?.wrappedType
            ?? type.as(ImplicitlyUnwrappedOptionalTypeSyntax.self)?.wrappedType
            ?? type.as(ArrayTypeSyntax.self)?.element
            ?? (["Optional", "Array", "Set"].contains(generic) ? arguments.first : nil)
        {
            return unsupportedKind(wrapped)
        }
        let dictionary = type.as(DictionaryTypeSyntax.self).map { ($0.key, $0.value) }
            ?? (generic == "Dictionary" && arguments.count == 2 ? (arguments[0], arguments[1]) : nil)
        if let (key, value) = dictionary {
            let keyName = key.trimmedDescription
            guard ["String", "Int", "Swift.String", "Swift.Int"].contains(keyName) else {
                return "a dictionary with \(keyName) keys (String or Int keys only)"
            }
            return unsupportedKind(value)
        }
        if type.is(TupleTypeSyntax.self) { return "a tuple" }
        return nil
    }

    /// The record's fields in `Codable` order: the `CodingKeys` cases if the struct declares them, its stored
    /// properties otherwise. `nil` (after diagnosing) if they cannot be written as a record.
    static func fields(of decl: StructDeclSyntax, stored: [StoredProperty], in context: some MacroExpansionContext) -> [Field]? {
        let codingKeys = decl.memberBlock.members.lazy
            .compactMap { $0.decl.as(EnumDeclSyntax.self) }
            .first { $0.name.text == "CodingKeys" }
        var fields: [Field] = []
        if let codingKeys {
            for element in codingKeys.memberBlock.members.compactMap({ $0.decl.as(EnumCaseDeclSyntax.self) }).flatMap(\.elements) {
                let name = unescaped(element.name)
                var key = name
                if let raw = element.rawValue?.value {
                    guard let literal = raw.as(StringLiteralExprSyntax.self), let text = literal.representedLiteralValue else {
                        context.diagnose(Diagnostic(node: raw, message: RecordDiagnostic.rawValue(name)))
                        return nil
                    }
                    key = text
                }
                fields.append(Field(key: key, name: name, property: element.name.text))
            }
        } else {
            fields = stored.map { Field(key: $0.name, name: $0.name, property: $0.spelling) }
        }
        var valid = true
        for index in fields.indices {
            guard let property = stored.first(where: { $0.name == fields[index].name }) else {
                context.diagnose(Diagnostic(node: decl.name, message: RecordDiagnostic.noProperty(fields[index].name)))
                valid = false
                continue
            }
            // The property as declared (a keyword needs its backticks in member access either way).
            fields[index].property = property.spelling
            let field = fields[index]
            if property.isLazy {
                context.diagnose(Diagnostic(node: property.binding, message: RecordDiagnostic.lazy(field.name)))
                valid = false
            }
            if let wrapper = property.wrapper {
                context.diagnose(Diagnostic(node: property.binding, message: RecordDiagnostic.wrapped(field.name, wrapper)))
                valid = false
            }
            if property.isInitializedLet {
                context.diagnose(Diagnostic(node: property.binding, message: RecordDiagnostic.initializedLet(field.name)))
                valid = false
            }
            if let annotation = property.binding.typeAnnotation?.type, let kind = unsupportedKind(annotation) {
                context.diagnose(Diagnostic(
                    node: annotation, message: RecordDiagnostic.unsupported(field.name, annotation.trimmedDescription, kind)))
                valid = false
            }
        }
        return valid ? fields : nil
    }

    /// What must be a `MessagePackField` for the members to compile: the struct's generic parameters (not
    /// parameter packs) that the spelled-out type of a field names, and the associated types of them it names
    /// (`T.ID`, which is then required instead of `T`), ordered by the parameters' declaration order.
    static func fieldGenericParameters(of decl: StructDeclSyntax, fields: [Field], stored: [StoredProperty]) -> [String] {
        let parameters = decl.genericParameterClause?.parameters.filter { $0.specifier == nil }.map(\.name.text) ?? []
        guard !parameters.isEmpty else { return [] }
        let finder = GenericUseFinder(parameters: Set(parameters), typeName: decl.name.text)
        for field in fields {
            guard let type = stored.first(where: { $0.name == field.name })?.binding.typeAnnotation?.type else { continue }
            finder.walk(type)
        }
        return parameters.flatMap { parameter in finder.found.filter { $0.parameter == parameter }.map(\.requirement) }
    }

    /// Finds the generic parameters a type names (`T`, `[String: T?]`, `Inner<T>`) and the associated types of
    /// them (`T.ID`, `T.ID.Raw`), in the order met.
    final class GenericUseFinder: SyntaxVisitor {
        let parameters: Set<String>
        /// The struct's own name: `Box.T`, like `Self.T`, is its parameter `T`.
        let typeName: String
        private(set) var found: [(parameter: String, requirement: String)] = []

        init(parameters: Set<String>, typeName: String) {
            self.parameters = parameters
            self.typeName = typeName
            super.init(viewMode: .sourceAccurate)
        }

        private func add(_ parameter: String, _ requirement: String) {
            if !found.contains(where: { $0.requirement == requirement }) { found.append((parameter, requirement)) }
        }

        override func visit(_ node: MemberTypeSyntax) -> SyntaxVisitorContinueKind {
            // `Self.T` or `Box.T`: the parameter itself.
            if let base = node.baseType.as(IdentifierTypeSyntax.self), base.genericArgumentClause == nil,
                [typeName, "Self"].contains(base.name.text), node.genericArgumentClause == nil,
                parameters.contains(node.name.text)
            {
                add(node.name.text, node.name.text)
                return .skipChildren
            }
            // The root of `T.ID.Raw`: a parameter, spelled without generic arguments.
            var base = node.baseType
            while let member = base.as(MemberTypeSyntax.self) { base = member.baseType }
            guard let root = base.as(IdentifierTypeSyntax.self), root.genericArgumentClause == nil,
                parameters.contains(root.name.text),
                !node.tokens(viewMode: .sourceAccurate).contains(where: { $0.tokenKind == .leftAngle })
            else { return .visitChildren }
            add(root.name.text, node.trimmedDescription)
            return .skipChildren
        }

        override func visit(_ node: IdentifierTypeSyntax) -> SyntaxVisitorContinueKind {
            if parameters.contains(node.name.text) { add(node.name.text, node.name.text) }
            return .visitChildren
        }
    }

    /// The access modifier the members need to satisfy the conformance where the struct is visible.
    static func accessModifier(of decl: StructDeclSyntax) -> String {
        for modifier in decl.modifiers {
            switch modifier.name.tokenKind {
            case .keyword(.public), .keyword(.open): return "public "
            case .keyword(.package): return "package "
            default: continue
            }
        }
        return ""
    }
}

/// What `@MessagePackRecord` reports about a declaration it cannot write members for.
enum RecordDiagnostic: DiagnosticMessage {
    case notAStruct
    case customCoding
    case lazy(String)
    case wrapped(String, String)
    case unsupported(String, String, String)
    case rawValue(String)
    case noProperty(String)
    case initializedLet(String)
    case conditionalProperty

    var message: String {
        switch self {
        case .notAStruct:
            return "@MessagePackRecord applies to structs; conform other types to MessagePackRecord by hand"
        case .customCoding:
            return "@MessagePackRecord writes the fields Codable synthesises, and this struct codes itself; "
                + "conform it to MessagePackRecord by hand to match its own encode(to:) and init(from:)"
        case .lazy(let name):
            return "lazy property '\(name)' cannot be a record field; make it a plain stored property or computed"
        case .wrapped(let name, let wrapper):
            return "field '\(name)' has the attribute @\(wrapper), which changes what Codable writes; store this type "
                + "as plain Codable instead"
        case .unsupported(let name, let type, let kind):
            return "field '\(name)' has type \(type), \(kind): record fields are integers, Float, Double, Bool, "
                + "String, Date, UUID, records, raw-value enums conforming to MessagePackField, and optionals, "
                + "arrays, sets and String- or Int-keyed dictionaries of these; store this type as plain Codable instead"
        case .rawValue(let name):
            return "CodingKeys case '\(name)' needs a string literal raw value (or none) to be a record field"
        case .noProperty(let name):
            return "CodingKeys case '\(name)' names no stored property of this struct"
        case .initializedLet(let name):
            return "'\(name)' is a let with an initial value, which Codable encodes but never decodes; make it a var, "
                + "or leave it out of CodingKeys"
        case .conditionalProperty:
            return "@MessagePackRecord cannot tell which clause of this #if declares the stored properties Codable "
                + "encodes; move them out of the #if, or conform the struct to MessagePackRecord by hand"
        }
    }

    var diagnosticID: MessageID {
        let id: String
        switch self {
        case .notAStruct: id = "notAStruct"
        case .customCoding: id = "customCoding"
        case .lazy: id = "lazy"
        case .wrapped: id = "wrapped"
        case .unsupported: id = "unsupported"
        case .rawValue: id = "rawValue"
        case .noProperty: id = "noProperty"
        case .initializedLet: id = "initializedLet"
        case .conditionalProperty: id = "conditionalProperty"
        }
        return MessageID(domain: "PartdRecordMacros", id: id)
    }

    var severity: DiagnosticSeverity { .error }
}

@main
struct PartdRecordPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [MessagePackRecordMacro.self]
}
