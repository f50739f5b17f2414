import Foundation

/// One eRoamingChargingNotification V1.1 (Start, Progress, End or Error), decoded and validated.
///
/// Fields follow OICP 2.3 CPO chapter 2 (REFERENCE §1.3–§1.6); which fields a type may carry
/// is the presence matrix of REFERENCE §1.7. A field that is not defined for `type` stays `nil`
/// here even if the body carried it (it is kept in `ValidatedNotification.body`).
public struct ChargingNotification: Sendable, Hashable {
    /// `Type` (all types, mandatory).
    public var type: NotificationType
    /// `SessionID`, the Hubject GUID-like session ID (REFERENCE §3.1; all types, mandatory).
    public var sessionID: String
    /// `EvseID` (REFERENCE §3.5; all types, mandatory).
    public var evseID: String
    /// `OperatorID` (REFERENCE §3.3; all types, mandatory per CPO-ADOC and OAS, §7.6).
    public var operatorID: String
    /// `CPOPartnerSessionID`, ≤ 250 characters.
    public var cpoPartnerSessionID: String?
    /// `EMPPartnerSessionID`, ≤ 250 characters.
    public var empPartnerSessionID: String?
    /// `Identification`, exactly one option when present (REFERENCE §3.8).
    public var identification: Identification?
    /// `PartnerProductID` (ProductIDType, ≤ 50; not on Error).
    public var partnerProductID: String?
    /// `ChargingStart` (mandatory on Start and Progress, optional on End, REFERENCE §7.17).
    public var chargingStart: Timestamp?
    /// `ChargingEnd` (End, mandatory).
    public var chargingEnd: Timestamp?
    /// `SessionStart` (Start, Progress, End).
    public var sessionStart: Timestamp?
    /// `SessionEnd` (End).
    public var sessionEnd: Timestamp?
    /// `EventOccurred` (Progress, mandatory).
    public var eventOccurred: Timestamp?
    /// `PenaltyTimeStart` (End).
    public var penaltyTimeStart: Timestamp?
    /// `ChargingDuration` in milliseconds (Progress).
    public var chargingDuration: Int64?
    /// `ConsumedEnergy` (End).
    public var consumedEnergy: KilowattHours?
    /// `ConsumedEnergyProgress` (Progress).
    public var consumedEnergyProgress: KilowattHours?
    /// `MeterValueStart` (Start, Progress, End).
    public var meterValueStart: KilowattHours?
    /// `MeterValueEnd` (End).
    public var meterValueEnd: KilowattHours?
    /// `MeterValueInBetween.meterValues` (Progress, End; wire shape `{"meterValues":[…]}`, REFERENCE §3.12).
    public var meterValuesInBetween: [KilowattHours]?
    /// `ErrorType` (Error, mandatory).
    public var errorType: ErrorType?
    /// `ErrorAdditionalInfo` (Error, ≤ 250 characters).
    public var errorAdditionalInfo: String?

    public init(
        type: NotificationType, sessionID: String, evseID: String, operatorID: String,
        cpoPartnerSessionID: String? = nil, empPartnerSessionID: String? = nil,
        identification: Identification? = nil, partnerProductID: String? = nil,
        chargingStart: Timestamp? = nil, chargingEnd: Timestamp? = nil,
        sessionStart: Timestamp? = nil, sessionEnd: Timestamp? = nil,
        eventOccurred: Timestamp? = nil, penaltyTimeStart: Timestamp? = nil,
        chargingDuration: Int64? = nil,
        consumedEnergy: KilowattHours? = nil, consumedEnergyProgress: KilowattHours? = nil,
        meterValueStart: KilowattHours? = nil, meterValueEnd: KilowattHours? = nil,
        meterValuesInBetween: [KilowattHours]? = nil,
        errorType: ErrorType? = nil, errorAdditionalInfo: String? = nil
    ) {
        self.type = type
        self.sessionID = sessionID
        self.evseID = evseID
        self.operatorID = operatorID
        self.cpoPartnerSessionID = cpoPartnerSessionID
        self.empPartnerSessionID = empPartnerSessionID
        self.identification = identification
        self.partnerProductID = partnerProductID
        self.chargingStart = chargingStart
        self.chargingEnd = chargingEnd
        self.sessionStart = sessionStart
        self.sessionEnd = sessionEnd
        self.eventOccurred = eventOccurred
        self.penaltyTimeStart = penaltyTimeStart
        self.chargingDuration = chargingDuration
        self.consumedEnergy = consumedEnergy
        self.consumedEnergyProgress = consumedEnergyProgress
        self.meterValueStart = meterValueStart
        self.meterValueEnd = meterValueEnd
        self.meterValuesInBetween = meterValuesInBetween
        self.errorType = errorType
        self.errorAdditionalInfo = errorAdditionalInfo
    }
}
