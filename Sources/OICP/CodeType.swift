import Foundation

/// `CodeType`: the 31 OICP status codes (OICP 2.3 CPO chapter 3 `[[CodeType]]`, REFERENCE §2.2).
///
/// Codes are strings with leading zeros, never numbers. "Backend systems only have to analyze
/// the provided status code, regardless of the functional status description" (CPO chapter 1).
/// `StatusCode.code` keeps the raw string, so a code missing here still decodes.
public enum CodeType: String, Sendable, Hashable, Codable, CaseIterable {
    /// Success. (General codes)
    case success = "000"
    /// Hubject system error. (Internal system codes)
    case hubjectSystemError = "001"
    /// Hubject database error. (Internal system codes)
    case hubjectDatabaseError = "002"
    /// Data transaction error. (Internal system codes)
    case dataTransactionError = "009"
    /// Unauthorized Access. (Internal system codes)
    case unauthorizedAccess = "017"
    /// Inconsistent EvseID. (Internal system codes)
    case inconsistentEvseID = "018"
    /// Inconsistent EvcoID. (Internal system codes)
    case inconsistentEvcoID = "019"
    /// System error. (General codes)
    case systemError = "021"
    /// Data error. (General codes)
    case dataError = "022"
    /// QR Code Authentication failed – Invalid Credentials. (Authentication codes)
    case qrCodeAuthenticationFailedInvalidCredentials = "101"
    /// RFID Authentication failed – invalid UID. (Authentication codes)
    case rfidAuthenticationFailedInvalidUID = "102"
    /// RFID Authentication failed – card not readable. (Authentication codes)
    case rfidAuthenticationFailedCardNotReadable = "103"
    /// PLC Authentication failed - invalid EvcoID. (Authentication codes)
    case plcAuthenticationFailedInvalidEvcoID = "105"
    /// No positive authentication response. (Authentication codes / Internal system codes)
    case noPositiveAuthenticationResponse = "106"
    /// QR Code App Authentication failed – time out error. (Authentication codes)
    case qrCodeAppAuthenticationFailedTimeOut = "110"
    /// PLC (ISO/ IEC 15118) Authentication failed – invalid underlying EvcoID. (Authentication codes)
    case plcAuthenticationFailedInvalidUnderlyingEvcoID = "120"
    /// PLC (ISO/ IEC 15118) Authentication failed – invalid certificate. (Authentication codes)
    case plcAuthenticationFailedInvalidCertificate = "121"
    /// PLC (ISO/ IEC 15118) Authentication failed – time out error. (Authentication codes)
    case plcAuthenticationFailedTimeOut = "122"
    /// EvcoID locked. (Authentication codes)
    case evcoIDLocked = "200"
    /// No valid contract. (Session codes)
    case noValidContract = "210"
    /// Partner not found. (Session codes)
    case partnerNotFound = "300"
    /// Partner did not respond. (Session codes)
    case partnerDidNotRespond = "310"
    /// Service not available. (Session codes)
    case serviceNotAvailable = "320"
    /// Session is invalid. (Session codes)
    case sessionIsInvalid = "400"
    /// Communication to EVSE failed. (EVSE codes)
    case communicationToEvseFailed = "501"
    /// No EV connected to EVSE. (EVSE codes)
    case noEVConnectedToEvse = "510"
    /// EVSE already reserved. (EVSE codes)
    case evseAlreadyReserved = "601"
    /// EVSE already in use/ wrong token. (EVSE codes)
    case evseAlreadyInUseWrongToken = "602"
    /// Unknown EVSE ID. (EVSE codes)
    case unknownEvseID = "603"
    /// EVSE ID is not Hubject compatible. (EVSE codes)
    case evseIDIsNotHubjectCompatible = "604"
    /// EVSE out of service. (EVSE codes)
    case evseOutOfService = "700"
}

extension CodeType {
    /// The spec's description of the code, verbatim (e.g. `"Data error."`).
    public var summary: String {
        switch self {
        case .success: "Success."
        case .hubjectSystemError: "Hubject system error."
        case .hubjectDatabaseError: "Hubject database error."
        case .dataTransactionError: "Data transaction error."
        case .unauthorizedAccess: "Unauthorized Access."
        case .inconsistentEvseID: "Inconsistent EvseID."
        case .inconsistentEvcoID: "Inconsistent EvcoID."
        case .systemError: "System error."
        case .dataError: "Data error."
        case .qrCodeAuthenticationFailedInvalidCredentials: "QR Code Authentication failed – Invalid Credentials."
        case .rfidAuthenticationFailedInvalidUID: "RFID Authentication failed – invalid UID."
        case .rfidAuthenticationFailedCardNotReadable: "RFID Authentication failed – card not readable."
        case .plcAuthenticationFailedInvalidEvcoID: "PLC Authentication failed - invalid EvcoID."
        case .noPositiveAuthenticationResponse: "No positive authentication response."
        case .qrCodeAppAuthenticationFailedTimeOut: "QR Code App Authentication failed – time out error."
        case .plcAuthenticationFailedInvalidUnderlyingEvcoID:
            "PLC (ISO/ IEC 15118) Authentication failed – invalid underlying EvcoID."
        case .plcAuthenticationFailedInvalidCertificate:
            "PLC (ISO/ IEC 15118) Authentication failed – invalid certificate."
        case .plcAuthenticationFailedTimeOut: "PLC (ISO/ IEC 15118) Authentication failed – time out error."
        case .evcoIDLocked: "EvcoID locked."
        case .noValidContract: "No valid contract."
        case .partnerNotFound: "Partner not found."
        case .partnerDidNotRespond: "Partner did not respond."
        case .serviceNotAvailable: "Service not available."
        case .sessionIsInvalid: "Session is invalid."
        case .communicationToEvseFailed: "Communication to EVSE failed."
        case .noEVConnectedToEvse: "No EV connected to EVSE."
        case .evseAlreadyReserved: "EVSE already reserved."
        case .evseAlreadyInUseWrongToken: "EVSE already in use/ wrong token."
        case .unknownEvseID: "Unknown EVSE ID."
        case .evseIDIsNotHubjectCompatible: "EVSE ID is not Hubject compatible."
        case .evseOutOfService: "EVSE out of service."
        }
    }

    /// The spec's "Area of Usage" column, verbatim (e.g. `"General codes"`).
    public var areaOfUsage: String {
        switch self {
        case .success: "General codes"
        case .hubjectSystemError: "Internal system codes"
        case .hubjectDatabaseError: "Internal system codes"
        case .dataTransactionError: "Internal system codes"
        case .unauthorizedAccess: "Internal system codes"
        case .inconsistentEvseID: "Internal system codes"
        case .inconsistentEvcoID: "Internal system codes"
        case .systemError: "General codes"
        case .dataError: "General codes"
        case .qrCodeAuthenticationFailedInvalidCredentials: "Authentication codes"
        case .rfidAuthenticationFailedInvalidUID: "Authentication codes"
        case .rfidAuthenticationFailedCardNotReadable: "Authentication codes"
        case .plcAuthenticationFailedInvalidEvcoID: "Authentication codes"
        case .noPositiveAuthenticationResponse: "Authentication codes / Internal system codes"
        case .qrCodeAppAuthenticationFailedTimeOut: "Authentication codes"
        case .plcAuthenticationFailedInvalidUnderlyingEvcoID: "Authentication codes"
        case .plcAuthenticationFailedInvalidCertificate: "Authentication codes"
        case .plcAuthenticationFailedTimeOut: "Authentication codes"
        case .evcoIDLocked: "Authentication codes"
        case .noValidContract: "Session codes"
        case .partnerNotFound: "Session codes"
        case .partnerDidNotRespond: "Session codes"
        case .serviceNotAvailable: "Session codes"
        case .sessionIsInvalid: "Session codes"
        case .communicationToEvseFailed: "EVSE codes"
        case .noEVConnectedToEvse: "EVSE codes"
        case .evseAlreadyReserved: "EVSE codes"
        case .evseAlreadyInUseWrongToken: "EVSE codes"
        case .unknownEvseID: "EVSE codes"
        case .evseIDIsNotHubjectCompatible: "EVSE codes"
        case .evseOutOfService: "EVSE codes"
        }
    }
}
