import Foundation
import JSON

/// One validation pass over a parsed notification body: collects every problem and anomaly.
///
/// Primitive checks live here; Identification (REFERENCE §3.8) and the cross-field anomalies
/// are in `NotificationCheck+Identification.swift` and `NotificationCheck+Anomalies.swift`.
struct NotificationCheck {
    let root: JSONObject
    let maxProblems: Int
    /// Position of each known field in `root`, or -1.
    private var slots: [Int]
    private(set) var problems: [ValidationProblem] = []
    private(set) var omittedProblems = 0
    var anomalies: [Anomaly] = []
    /// The notification type, once `Type` is known to be valid.
    var type: NotificationType?

    init(root: JSONObject, maxProblems: Int) {
        self.root = root
        self.maxProblems = max(1, maxProblems)
        slots = Array(repeating: -1, count: NotificationField.allCases.count)
        for (position, key) in root.keys.enumerated() {
            if let field = NotificationField.named(key) { slots[field.rawValue] = position }
        }
    }

    /// The problems, with a closing note when some were left out.
    var reportedProblems: [ValidationProblem] {
        guard omittedProblems > 0 else { return problems }
        return problems + [ValidationProblem(pointer: "", message: "\(omittedProblems) more problems not listed")]
    }

    /// Records a problem; past `maxProblems` it is only counted, without building its text.
    mutating func problem(_ pointer: @autoclosure () -> String, _ message: @autoclosure () -> String) {
        if problems.count < maxProblems {
            problems.append(ValidationProblem(pointer: pointer(), message: message()))
        } else {
            omittedProblems += 1
        }
    }

    mutating func anomaly(_ code: String, _ message: String) {
        anomalies.append(Anomaly(code: code, message: message))
    }

    // MARK: Field access

    /// The raw member for `field`, whatever its presence rule.
    func raw(_ field: NotificationField) -> JSONValue? {
        let slot = slots[field.rawValue]
        return slot < 0 ? nil : root.values[slot]
    }

    /// Whether `field` is present with a non-null value.
    func isGiven(_ field: NotificationField) -> Bool {
        guard let value = raw(field) else { return false }
        return !value.isNull
    }

    private func presence(of field: NotificationField) -> NotificationField.Presence {
        type.map(field.presence(in:)) ?? field.commonPresence
    }

    /// The value of `field` when it is defined for this type and not null; reports a missing
    /// mandatory field. Null counts as absent (REFERENCE §2: Hubject sends explicit nulls).
    mutating func value(_ field: NotificationField) -> JSONValue? {
        let presence = presence(of: field)
        guard presence != .undefined else { return nil }  // an unknown property for this type: kept, not checked
        let value = raw(field)
        if let value, !value.isNull { return value }
        if presence == .mandatory {
            let scope = type.map { " for \($0.rawValue) notifications" } ?? ""
            problem(
                field.pointer, "\(field.name) is required\(scope)" + (value == nil ? "" : "; null counts as missing"))
        }
        return nil
    }

    // MARK: Typed values (top level)

    mutating func string(_ field: NotificationField, maxLength: Int? = nil) -> String? {
        guard let value = value(field) else { return nil }
        return string(value, at: field.pointer, name: field.name, maxLength: maxLength)
    }

    mutating func timestamp(_ field: NotificationField) -> Timestamp? {
        guard let value = value(field) else { return nil }
        return timestamp(value, at: field.pointer, name: field.name)
    }

    mutating func kilowattHours(_ field: NotificationField) -> KilowattHours? {
        guard let value = value(field) else { return nil }
        return kilowattHours(value, at: field.pointer, name: field.name)
    }

    // MARK: Typed values (any position)

    /// A string, at most `maxLength` UTF-16 code units (Length).
    mutating func string(_ value: JSONValue, at pointer: String, name: String, maxLength: Int? = nil) -> String? {
        guard case .string(let text) = value else {
            problem(pointer, "\(name) must be a string, got \(value.typeName)")
            return nil
        }
        if let maxLength {
            // utf8.count ≥ utf16.count, so the cheap count settles most strings.
            if text.utf8.count > maxLength, Length.utf16(text) > maxLength {
                problem(
                    pointer,
                    "\(name) is \(Length.utf16(text)) characters long; the limit is \(maxLength) "
                        + "(counted in UTF-16 code units)")
                return nil
            }
        }
        return text
    }

    /// A string matching an OICP pattern (`check` returns the reason it does not).
    mutating func patterned(
        _ value: JSONValue, at pointer: String, name: String, pattern: String, check: (String) -> String?
    ) -> String? {
        guard let text = string(value, at: pointer, name: name) else { return nil }
        if let reason = check(text) {
            problem(pointer, "\(name) \(Quote.value(text)) does not match \(pattern): \(reason)")
            return nil
        }
        return text
    }

    /// A string from a closed list of values.
    mutating func enumerated<E: RawRepresentable & CaseIterable>(
        _ value: JSONValue, at pointer: String, name: String, as: E.Type
    ) -> E? where E.RawValue == String {
        guard let text = string(value, at: pointer, name: name) else { return nil }
        if let result = E(rawValue: text) { return result }
        problem(pointer, "\(name) must be one of \(Self.list(E.allCases.map(\.rawValue))); got \(Quote.value(text))")
        return nil
    }

    mutating func timestamp(_ value: JSONValue, at pointer: String, name: String) -> Timestamp? {
        guard case .string(let text) = value else {
            problem(
                pointer,
                "\(name) must be a date-time string such as \"2024-05-14T09:32:10+02:00\", got \(value.typeName)")
            return nil
        }
        switch Timestamp.parse(text) {
        case .success(let timestamp):
            return timestamp
        case .failure(let failure):
            problem(pointer, "\(name) \(Quote.value(text)) \(failure.reason)")
            return nil
        }
    }

    /// A "Decimal (,3)" kWh value (REFERENCE §3.12).
    mutating func kilowattHours(_ value: JSONValue, at pointer: String, name: String) -> KilowattHours? {
        guard case .number(let text) = value else {
            problem(pointer, "\(name) must be a number (kWh with at most 3 fraction digits), got \(value.typeName)")
            return nil
        }
        switch DecimalLiteral.scaled(text, scale: 3) {
        case .success(let thousandths):
            return KilowattHours(thousandths: thousandths)
        case .failure(.tooManyFractionDigits(let digits)):
            problem(
                pointer,
                "\(name) \(Quote.number(text)) has \(digits) fraction digits; at most 3 are allowed (Decimal (,3) kWh)")
        case .failure:
            problem(pointer, "\(name) \(Quote.number(text)) is out of range")
        }
        return nil
    }

    /// A whole number that fits `Int64` (value-based: `9e5` and `900000.0` are whole).
    mutating func integer(_ value: JSONValue, at pointer: String, name: String, unit: String) -> Int64? {
        guard case .number(let text) = value else {
            problem(pointer, "\(name) must be an integer number of \(unit), got \(value.typeName)")
            return nil
        }
        switch DecimalLiteral.scaled(text, scale: 0) {
        case .success(let integer):
            return integer
        case .failure(.tooManyFractionDigits):
            problem(pointer, "\(name) \(Quote.number(text)) must be an integer number of \(unit)")
        case .failure:
            problem(pointer, "\(name) \(Quote.number(text)) is out of range for a 64-bit integer")
        }
        return nil
    }

    /// `"A", "B" or "C"`-style list.
    static func list(_ values: [String]) -> String {
        let quoted = values.map { "\"\($0)\"" }
        guard quoted.count > 1 else { return quoted.first ?? "" }
        return quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
    }
}
