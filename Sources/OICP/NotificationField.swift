import Foundation

/// The top-level fields of eRoamingChargingNotifications V1.1 and where each may appear.
enum NotificationField: Int, CaseIterable {
    case type, sessionID, cpoPartnerSessionID, empPartnerSessionID, identification, evseID, operatorID
    case partnerProductID, chargingStart, sessionStart, meterValueStart
    case eventOccurred, chargingDuration, consumedEnergyProgress, meterValueInBetween
    case chargingEnd, sessionEnd, consumedEnergy, meterValueEnd, penaltyTimeStart
    case errorType, errorAdditionalInfo

    /// Whether a field is mandatory, optional or not defined for a notification type.
    enum Presence {
        case mandatory, optional, undefined
    }

    /// The wire name, e.g. `"CPOPartnerSessionID"`.
    var name: String { Self.names[rawValue] }

    /// The RFC 6901 pointer of the field, e.g. `"/EvseID"`.
    var pointer: String { Self.pointers[rawValue] }

    private static let names = [
        "Type", "SessionID", "CPOPartnerSessionID", "EMPPartnerSessionID", "Identification", "EvseID", "OperatorID",
        "PartnerProductID", "ChargingStart", "SessionStart", "MeterValueStart",
        "EventOccurred", "ChargingDuration", "ConsumedEnergyProgress", "MeterValueInBetween",
        "ChargingEnd", "SessionEnd", "ConsumedEnergy", "MeterValueEnd", "PenaltyTimeStart",
        "ErrorType", "ErrorAdditionalInfo",
    ]

    private static let pointers = names.map { "/" + $0 }

    /// Wire name → field.
    static let byName: [String: NotificationField] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// The field a body member names, compared by exact bytes (so a key that is merely
    /// canonically equivalent, e.g. with U+212A KELVIN SIGN, is an unknown property).
    static func named(_ key: String) -> NotificationField? {
        guard let field = byName[key], field.name.utf8.count == key.utf8.count else { return nil }
        return field
    }

    /// The presence matrix of OICP 2.3 CPO chapter 2 (REFERENCE §1.7).
    func presence(in type: NotificationType) -> Presence {
        switch self {
        case .type, .sessionID, .evseID, .operatorID:
            return .mandatory
        case .cpoPartnerSessionID, .empPartnerSessionID, .identification:
            return .optional
        case .partnerProductID, .sessionStart, .meterValueStart:
            return type == .error ? .undefined : .optional
        case .chargingStart:
            switch type {
            case .start, .progress: return .mandatory
            case .end: return .optional  // REFERENCE §7.17
            case .error: return .undefined
            }
        case .eventOccurred:
            return type == .progress ? .mandatory : .undefined
        case .chargingDuration, .consumedEnergyProgress:
            return type == .progress ? .optional : .undefined
        case .meterValueInBetween:
            return type == .progress || type == .end ? .optional : .undefined
        case .chargingEnd:
            return type == .end ? .mandatory : .undefined
        case .sessionEnd, .consumedEnergy, .meterValueEnd, .penaltyTimeStart:
            return type == .end ? .optional : .undefined
        case .errorType:
            return type == .error ? .mandatory : .undefined
        case .errorAdditionalInfo:
            return type == .error ? .optional : .undefined
        }
    }

    /// Presence when `Type` is unusable: only fields with the same presence in all four types
    /// are checked.
    var commonPresence: Presence {
        let presences = NotificationType.allCases.map(presence(in:))
        return presences.allSatisfy { $0 == presences[0] } ? presences[0] : .undefined
    }
}
