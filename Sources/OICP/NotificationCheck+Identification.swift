import Foundation
import JSON

extension NotificationCheck {
    /// `IdentificationType` (OICP 2.3 CPO chapter 3, REFERENCE §3.8): exactly one of five options.
    ///
    /// Every option present is checked, so an object with two options reports the cardinality
    /// problem *and* each option's own problems. A null option counts as absent.
    mutating func identification(_ value: JSONValue, at pointer: String) -> Identification? {
        let names = Identification.optionNames
        guard case .object(let object) = value else {
            problem(
                pointer,
                "Identification must be an object with exactly one of \(Self.list(names)), got \(value.typeName)")
            return nil
        }
        let given = names.filter { name in object[name].map { !$0.isNull } ?? false }
        if given.isEmpty {
            problem(pointer, "Identification must contain exactly one of \(Self.list(names)); found none")
            return nil
        }
        if given.count > 1 {
            problem(
                pointer,
                "Identification must contain exactly one option; found \(given.count): "
                    + given.joined(separator: ", ") + " (\"Only one Identification Method can be used\")")
        }
        var decoded: [Identification] = []
        for name in given {
            let optionPointer = JSONPointer.appending(pointer, name)
            guard case .object(let option) = object[name]! else {
                problem(optionPointer, "\(name) must be an object, got \(object[name]!.typeName)")
                continue
            }
            if let identification = decodeOption(name, option, at: optionPointer) {
                decoded.append(identification)
            }
        }
        return given.count == 1 ? decoded.first : nil
    }

    private mutating func decodeOption(_ name: String, _ option: JSONObject, at pointer: String) -> Identification? {
        switch name {
        case "RFIDMifareFamilyIdentification":
            guard let uid = self.uid(in: option, at: pointer, option: name) else { return nil }
            return .rfidMifareFamily(uid: uid)
        case "RFIDIdentification":
            let uid = self.uid(in: option, at: pointer, option: name)
            let rfid = member("RFID", of: option, at: pointer, option: name, required: true).flatMap {
                enumerated($0, at: JSONPointer.appending(pointer, "RFID"), name: "RFID", as: RFIDType.self)
            }
            var evcoID: String?
            var valid = true
            if let value = member("EvcoID", of: option, at: pointer, option: name, required: false) {
                evcoID = self.evcoID(value, at: JSONPointer.appending(pointer, "EvcoID"))
                valid = valid && evcoID != nil
            }
            var printedNumber: String?
            if let value = member("PrintedNumber", of: option, at: pointer, option: name, required: false) {
                printedNumber = string(
                    value, at: JSONPointer.appending(pointer, "PrintedNumber"), name: "PrintedNumber", maxLength: 150)
                valid = valid && printedNumber != nil
            }
            // ExpiryDate: ADOC says Date/Time, OAS a plain string; kept as sent (docs/oicp-decisions.md).
            var expiryDate: String?
            if let value = member("ExpiryDate", of: option, at: pointer, option: name, required: false) {
                expiryDate = string(value, at: JSONPointer.appending(pointer, "ExpiryDate"), name: "ExpiryDate")
                valid = valid && expiryDate != nil
            }
            guard let uid, let rfid, valid else { return nil }
            return .rfid(
                uid: uid, rfid: rfid.rawValue, evcoID: evcoID, printedNumber: printedNumber, expiryDate: expiryDate)
        case "QRCodeIdentification":
            let evcoID = member("EvcoID", of: option, at: pointer, option: name, required: true).flatMap {
                self.evcoID($0, at: JSONPointer.appending(pointer, "EvcoID"))
            }
            var valid = true
            var hashedPIN: HashedPIN?
            if let value = member("HashedPIN", of: option, at: pointer, option: name, required: false) {
                hashedPIN = self.hashedPIN(value, at: JSONPointer.appending(pointer, "HashedPIN"))
                valid = valid && hashedPIN != nil
            }
            var pin: String?
            if let value = member("PIN", of: option, at: pointer, option: name, required: false) {
                pin = string(value, at: JSONPointer.appending(pointer, "PIN"), name: "PIN", maxLength: 20)
                valid = valid && pin != nil
            }
            guard let evcoID, valid else { return nil }
            return .qrCode(evcoID: evcoID, hashedPIN: hashedPIN, pin: pin)
        case "PlugAndChargeIdentification":
            guard let value = member("EvcoID", of: option, at: pointer, option: name, required: true),
                let evcoID = self.evcoID(value, at: JSONPointer.appending(pointer, "EvcoID"))
            else { return nil }
            return .plugAndCharge(evcoID: evcoID)
        default:  // RemoteIdentification
            guard let value = member("EvcoID", of: option, at: pointer, option: name, required: true),
                let evcoID = self.evcoID(value, at: JSONPointer.appending(pointer, "EvcoID"))
            else { return nil }
            return .remote(evcoID: evcoID)
        }
    }

    /// A non-null member of a nested object; reports it when required and missing.
    private mutating func member(
        _ key: String, of object: JSONObject, at pointer: String, option: String, required: Bool
    ) -> JSONValue? {
        let value = object[key]
        if let value, !value.isNull { return value }
        if required {
            problem(
                JSONPointer.appending(pointer, key),
                "\(key) is required in \(option)" + (value == nil ? "" : "; null counts as missing"))
        }
        return nil
    }

    private mutating func uid(in option: JSONObject, at pointer: String, option name: String) -> String? {
        guard let value = member("UID", of: option, at: pointer, option: name, required: true) else { return nil }
        return patterned(
            value, at: JSONPointer.appending(pointer, "UID"), name: "UID", pattern: OICPPattern.uid,
            check: OICPPattern.uidProblem)
    }

    private mutating func evcoID(_ value: JSONValue, at pointer: String) -> String? {
        patterned(value, at: pointer, name: "EvcoID", pattern: OICPPattern.evcoID, check: OICPPattern.evcoIDProblem)
    }

    /// `HashedPINType` with its optional `LegacyHashDataType`.
    private mutating func hashedPIN(_ value: JSONValue, at pointer: String) -> HashedPIN? {
        guard case .object(let object) = value else {
            problem(pointer, "HashedPIN must be an object, got \(value.typeName)")
            return nil
        }
        let hash = member("Value", of: object, at: pointer, option: "HashedPIN", required: true).flatMap {
            patterned(
                $0, at: JSONPointer.appending(pointer, "Value"), name: "Value", pattern: OICPPattern.hashValue,
                check: OICPPattern.hashValueProblem)
        }
        let function = member("Function", of: object, at: pointer, option: "HashedPIN", required: true).flatMap {
            enumerated(
                $0, at: JSONPointer.appending(pointer, "Function"), name: "Function", as: HashedPIN.Function.self)
        }
        var legacy: HashedPIN.LegacyHashData?
        var valid = true
        if let value = member("LegacyHashData", of: object, at: pointer, option: "HashedPIN", required: false) {
            legacy = legacyHashData(value, at: JSONPointer.appending(pointer, "LegacyHashData"))
            valid = legacy != nil
        }
        guard let hash, let function, valid else { return nil }
        return HashedPIN(value: hash, function: function, legacyHashData: legacy)
    }

    private mutating func legacyHashData(_ value: JSONValue, at pointer: String) -> HashedPIN.LegacyHashData? {
        guard case .object(let object) = value else {
            problem(pointer, "LegacyHashData must be an object, got \(value.typeName)")
            return nil
        }
        let option = "LegacyHashData"
        let function = member("Function", of: object, at: pointer, option: option, required: true).flatMap {
            enumerated(
                $0, at: JSONPointer.appending(pointer, "Function"), name: "Function",
                as: HashedPIN.LegacyHashData.Function.self)
        }
        var valid = true
        var salt: String?
        if let value = member("Salt", of: object, at: pointer, option: option, required: false) {
            salt = string(value, at: JSONPointer.appending(pointer, "Salt"), name: "Salt", maxLength: 100)
            valid = valid && salt != nil
        }
        var hash: String?
        if let value = member("Value", of: object, at: pointer, option: option, required: false) {
            hash = string(value, at: JSONPointer.appending(pointer, "Value"), name: "Value", maxLength: 20)
            valid = valid && hash != nil
        }
        guard let function, valid else { return nil }
        return HashedPIN.LegacyHashData(function: function, salt: salt, value: hash)
    }
}
