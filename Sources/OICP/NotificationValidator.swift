import Foundation
import JSON

/// Validates eRoamingChargingNotifications V1.1 request bodies (OICP 2.3 CPO chapter 2,
/// REFERENCE §1) and decodes them into `ChargingNotification`.
///
/// Order of checks:
/// 1. The body: at most `maxBodyBytes`, UTF-8, RFC 8259 JSON with no repeated member names, at
///    most `maxDepth` levels deep, a JSON object. A failure here is the only problem reported.
/// 2. `Type` first (REFERENCE §7.2, §9), then the fields of that type per the presence matrix
///    (REFERENCE §1.7). A field not defined for the type is an unknown property: it is kept in
///    `body` and not checked. JSON `null` counts as absent (missing, if the field is mandatory).
/// 3. Patterns, enums, lengths (UTF-16 code units, as Hubject's Java service counts), timestamps,
///    decimals, `Identification` cardinality, Progress' "ChargingDuration or ConsumedEnergyProgress".
///
/// Every problem is reported, each with its JSON pointer. Cross-field inconsistencies the HBS
/// does not reject become `Anomaly` values on an accepted notification. See
/// `docs/oicp-decisions.md` for the choices made where the sources disagree (REFERENCE §7).
///
/// ```swift
/// let validator = NotificationValidator()
/// switch validator.validate(requestBody) {
/// case .success(let validated): store(validated.body, validated.notification, validated.anomalies)
/// case .failure(let failure): respond(Acknowledgement.rejected(failure, sessionID: nil))
/// }
/// ```
///
/// Work is linear in the body size; no regex engine, no Foundation JSON.
public struct NotificationValidator: Sendable {
    /// Resource limits.
    ///
    /// | key | type | default |
    /// | --- | --- | --- |
    /// | `maxBodyBytes` | `Int` | 65 536 |
    /// | `maxDepth` | `Int` (root object = 1) | 16 |
    /// | `maxProblems` | `Int` (further problems are counted, not listed) | 100 |
    public struct Limits: Sendable, Hashable {
        /// Largest accepted body in bytes; larger bodies are refused before parsing.
        public var maxBodyBytes: Int
        /// Deepest accepted nesting of arrays and objects (a valid notification needs 5).
        public var maxDepth: Int
        /// Most problems listed in a `ValidationFailure`; the rest are summarised in one line.
        public var maxProblems: Int

        public init(maxBodyBytes: Int = 65_536, maxDepth: Int = 16, maxProblems: Int = 100) {
            self.maxBodyBytes = maxBodyBytes
            self.maxDepth = maxDepth
            self.maxProblems = maxProblems
        }
    }

    /// The limits in force.
    public var limits: Limits

    public init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Validates one request body.
    /// - Parameter bytes: The raw HTTP request body.
    /// - Returns: The decoded notification with its parsed body and anomalies, or every problem found.
    public func validate(_ bytes: some Collection<UInt8>) -> Result<ValidatedNotification, ValidationFailure> {
        let count = bytes.count
        guard count <= limits.maxBodyBytes else {
            return .failure(
                ValidationFailure(problems: [
                    ValidationProblem(
                        pointer: "", message: "body is \(count) bytes; the limit is \(limits.maxBodyBytes) bytes")
                ]))
        }
        let body: JSONValue
        do throws(JSONParseError) {
            body = try JSONParser.parse(bytes, maxDepth: limits.maxDepth, maxBytes: limits.maxBodyBytes)
        } catch {
            return .failure(ValidationFailure(problems: [Self.problem(for: error)]))
        }
        guard case .object(let root) = body else {
            return .failure(
                ValidationFailure(problems: [
                    ValidationProblem(pointer: "", message: "body must be a JSON object, got \(body.typeName)")
                ]))
        }

        var check = NotificationCheck(root: root, maxProblems: limits.maxProblems)
        let notification = Self.decode(&check)
        Self.checkStorableNumbers(body, pointer: "", &check)
        guard check.problems.isEmpty, let notification else {
            return .failure(ValidationFailure(problems: check.reportedProblems))
        }
        check.recordAnomalies(of: notification)
        return .success(ValidatedNotification(notification: notification, body: body, anomalies: check.anomalies))
    }

    /// Every number anywhere in the body, unknown properties included, must fit PostgreSQL's
    /// `numeric`: the body is stored as `jsonb`, and one number it cannot hold would fail the
    /// commit of every notification in the same group-commit batch.
    private static func checkStorableNumbers(_ value: JSONValue, pointer: String, _ check: inout NotificationCheck) {
        switch value {
        case .number(let text) where !StorableNumber.fits(text):
            check.problem(
                pointer,
                "the number \(text.count > 40 ? text.prefix(40) + "…" : text) is beyond what the ledger stores (at most \(StorableNumber.maxWeight + 1) digits before the decimal point and \(StorableNumber.maxScale) after it)"
            )
        case .array(let elements):
            for (index, element) in elements.enumerated() { checkStorableNumbers(element, pointer: "\(pointer)/\(index)", &check) }
        case .object(let object):
            for (key, member) in object { checkStorableNumbers(member, pointer: pointer + "/" + JSONPointer.escape(key), &check) }
        default: break
        }
    }

    private static func problem(for error: JSONParseError) -> ValidationProblem {
        let message: String
        switch error.kind {
        case .invalidUTF8:
            message = "body is not valid UTF-8: \(error.message) at byte \(error.offset)"
        case .syntax:
            message = "malformed JSON at byte \(error.offset): \(error.message)"
        default:
            message = "\(error.message) (byte \(error.offset))"
        }
        return ValidationProblem(pointer: error.pointer, message: message)
    }

    /// `"Start", "Progress", "End" or "Error"`.
    private static let allowedTypes = NotificationCheck.list(NotificationType.allCases.map(\.rawValue))

    /// Checks every field; returns the notification when nothing mandatory is missing.
    private static func decode(_ check: inout NotificationCheck) -> ChargingNotification? {
        let allowed = allowedTypes
        switch check.raw(.type) {
        case nil, .null?:
            check.problem(NotificationField.type.pointer, "Type is required; it must be \(allowed)")
        case .string(let text)?:
            check.type = NotificationType(rawValue: text)
            if check.type == nil {
                check.problem(NotificationField.type.pointer, "Type must be \(allowed); got \(Quote.value(text))")
            }
        case let other?:
            check.problem(NotificationField.type.pointer, "Type must be a string, \(allowed); got \(other.typeName)")
        }

        let sessionID = check.value(.sessionID).flatMap {
            check.patterned(
                $0, at: NotificationField.sessionID.pointer, name: "SessionID", pattern: OICPPattern.sessionID,
                check: OICPPattern.sessionIDProblem)
        }
        let cpoPartnerSessionID = check.string(.cpoPartnerSessionID, maxLength: 250)
        let empPartnerSessionID = check.string(.empPartnerSessionID, maxLength: 250)
        let identification = check.value(.identification).flatMap {
            check.identification($0, at: NotificationField.identification.pointer)
        }
        let evseID = check.value(.evseID).flatMap {
            check.patterned(
                $0, at: NotificationField.evseID.pointer, name: "EvseID", pattern: OICPPattern.evseID,
                check: OICPPattern.evseIDProblem)
        }
        let operatorID = check.value(.operatorID).flatMap {
            check.patterned(
                $0, at: NotificationField.operatorID.pointer, name: "OperatorID", pattern: OICPPattern.operatorID,
                check: OICPPattern.operatorIDProblem)
        }
        guard let type = check.type else { return nil }

        var notification = ChargingNotification(
            type: type, sessionID: sessionID ?? "", evseID: evseID ?? "", operatorID: operatorID ?? "",
            cpoPartnerSessionID: cpoPartnerSessionID, empPartnerSessionID: empPartnerSessionID,
            identification: identification)
        notification.partnerProductID = check.string(.partnerProductID, maxLength: 50)
        notification.chargingStart = check.timestamp(.chargingStart)
        notification.sessionStart = check.timestamp(.sessionStart)
        notification.meterValueStart = check.kilowattHours(.meterValueStart)
        notification.eventOccurred = check.timestamp(.eventOccurred)
        notification.chargingDuration = check.value(.chargingDuration).flatMap {
            check.integer(
                $0, at: NotificationField.chargingDuration.pointer, name: "ChargingDuration", unit: "milliseconds")
        }
        notification.consumedEnergyProgress = check.kilowattHours(.consumedEnergyProgress)
        notification.meterValuesInBetween = check.value(.meterValueInBetween).flatMap { meterValues($0, &check) }
        notification.chargingEnd = check.timestamp(.chargingEnd)
        notification.sessionEnd = check.timestamp(.sessionEnd)
        notification.consumedEnergy = check.kilowattHours(.consumedEnergy)
        notification.meterValueEnd = check.kilowattHours(.meterValueEnd)
        notification.penaltyTimeStart = check.timestamp(.penaltyTimeStart)
        notification.errorType = check.value(.errorType).flatMap { errorType($0, &check) }
        notification.errorAdditionalInfo = check.string(.errorAdditionalInfo, maxLength: 250)

        // BPD-Progress: "Please provide either ChargingDuration or ConsumedEnergyProgress or both".
        if type == .progress, !check.isGiven(.chargingDuration), !check.isGiven(.consumedEnergyProgress) {
            check.problem("", "Progress notifications need ChargingDuration or ConsumedEnergyProgress (or both)")
        }
        guard sessionID != nil, evseID != nil, operatorID != nil else { return nil }
        return notification
    }

    /// `MeterValueInBetween`: the wire shape is `{"meterValues": [number, …]}` (REFERENCE §3.12, §7.8).
    private static func meterValues(_ value: JSONValue, _ check: inout NotificationCheck) -> [KilowattHours]? {
        let pointer = NotificationField.meterValueInBetween.pointer
        switch value {
        case .array:
            check.problem(
                pointer,
                "MeterValueInBetween must be an object {\"meterValues\": [...]}, got a bare array; "
                    + "wrap the list as {\"meterValues\": [...]}")
            return nil
        case .object(let object):
            let listPointer = JSONPointer.appending(pointer, "meterValues")
            switch object["meterValues"] {
            case nil, .null?:
                return nil
            case .array(let items)?:
                var values: [KilowattHours] = []
                values.reserveCapacity(items.count)
                var valid = true
                for (index, item) in items.enumerated() {
                    if let value = check.kilowattHours(
                        item, at: JSONPointer.appending(listPointer, index),
                        name: "MeterValueInBetween.meterValues[\(index)]")
                    {
                        values.append(value)
                    } else {
                        valid = false
                    }
                }
                return valid ? values : nil
            case let other?:
                check.problem(
                    listPointer, "MeterValueInBetween.meterValues must be an array of numbers, got \(other.typeName)")
                return nil
            }
        default:
            check.problem(
                pointer, "MeterValueInBetween must be an object {\"meterValues\": [...]}, got \(value.typeName)")
            return nil
        }
    }

    /// `ErrorType` (ErrorClassType, REFERENCE §1.8, §7.1).
    private static func errorType(_ value: JSONValue, _ check: inout NotificationCheck) -> ErrorType? {
        let pointer = NotificationField.errorType.pointer
        guard let text = check.string(value, at: pointer, name: "ErrorType") else { return nil }
        if let errorType = ErrorType(rawValue: text) { return errorType }
        let allowed = "ErrorType must be \"ConnectorError\" or \"CriticalError\""
        if text == "Connector Error" || text == "Critical Error" {
            check.problem(pointer, "\(allowed); \"\(text)\" is a known typo in the CPO data-types chapter")
        } else {
            check.problem(pointer, "\(allowed); got \(Quote.value(text))")
        }
        return nil
    }
}
