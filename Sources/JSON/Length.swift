import Foundation

/// String length as OICP's Java implementation counts it.
///
/// Hubject's HBS is a Java service (REFERENCE §0, SWG-2020), where `String.length()` counts
/// UTF-16 code units, so the ADOC "Field Length" limits (REFERENCE §1.2, §2.1) are checked in
/// UTF-16 code units: an emoji outside the BMP counts as 2.
package enum Length {
    package static func utf16(_ text: String) -> Int { text.utf16.count }
}
