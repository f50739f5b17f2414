import Foundation
import JSON
import OICP
import Testing

@Suite("JSONParser (strict RFC 8259)")
struct JSONParserTests {
    private func parse(_ text: String, maxDepth: Int = 16) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth, maxBytes: 1 << 20)
    }

    private func error(_ bytes: [UInt8], maxDepth: Int = 16) -> JSONParseError? {
        do throws(JSONParseError) {
            _ = try JSONParser.parse(bytes, maxDepth: maxDepth, maxBytes: 1 << 24)
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "malformed documents are refused",
        arguments: [
            "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "[1,]", "{\"a\":1,}", "[1 2]", "1 2", "01", "-01",
            "1.", ".5", "-", "+1", "1e", "1e+", "NaN", "Infinity", "tru", "nul", "True", "\"abc", "\"\\x\"",
            "\"\u{01}\"", "\"a\nb\"", "{'a':1}", "{a:1}", "[", "[1", "\"\\u12\"", "\"\\uD800\"", "\"\\uDC00\"",
            "\"\\uD800\\u0041\"", "\u{FEFF}{}", "{}x", "/* c */ {}",
        ])
    func malformed(text: String) {
        let failure = error(Array(text.utf8))
        #expect(failure?.kind == .syntax, "\(text.debugDescription) → \(String(describing: failure))")
        #expect(failure?.pointer == "")
    }

    @Test("well-formed documents are accepted")
    func wellFormed() throws {
        #expect(try parse("0") == .number("0"))
        #expect(try parse("-0") == .number("-0"))
        #expect(try parse(" -1.50e-3 ") == .number("-1.50e-3"))
        #expect(try parse("1E+5") == .number("1E+5"))
        #expect(try parse("12345678901234567890123456789.000") == .number("12345678901234567890123456789.000"))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("null") == .null)
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object(JSONObject()))
        #expect(try parse(#""\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00""#) == .string("\"\\/\u{08}\u{0C}\n\r\té😀"))
        #expect(try parse("\"grüß 😀\"") == .string("grüß 😀"))
        let object = try parse(" {\"b\" : [ true , false , null ] ,\"a\":{}} ")
        #expect(object.objectValue?.keys == ["b", "a"])
        #expect(object["b"] == .array([.bool(true), .bool(false), .null]))
    }

    @Test("invalid UTF-8 is reported with its byte offset")
    func invalidUTF8() {
        let cases: [([UInt8], Int)] = [
            (Array("{\"a\":\"x".utf8) + [0xFF] + Array("\"}".utf8), 7),
            (Array("\"".utf8) + [0xC0, 0x80] + Array("\"".utf8), 1),  // overlong
            (Array("\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"".utf8), 2),  // surrogate
            (Array("\"".utf8) + [0xE2, 0x82], 3),  // truncated at the end
            (Array("\"".utf8) + [0xF5, 0x80, 0x80, 0x80] + Array("\"".utf8), 1),
            ([0x7B, 0x80, 0x7D], 1),  // outside a string
        ]
        for (bytes, offset) in cases {
            let failure = error(bytes)
            #expect(failure?.kind == .invalidUTF8, "\(bytes)")
            #expect(failure?.offset == offset, "\(bytes)")
        }
    }

    @Test("malformed JSON reports the byte offset")
    func offset() {
        let failure = error(Array("{\"a\": 1,, }".utf8))
        #expect(failure?.offset == 8)
        #expect(failure?.message.contains("','") == true)
    }

    @Test("a \\u0000 escape is refused: jsonb cannot store it")
    func nulEscape() {
        let failure = error(Array(#"{"a": "x\u0000y"}"#.utf8))
        #expect(failure?.kind == .syntax)
        #expect(failure?.message.contains("\\u0000") == true)
        #expect(error(Array(#"{"a": "x\u0001y"}"#.utf8)) == nil)
    }

    @Test("nesting deeper than maxDepth is refused, without recursion")
    func depth() throws {
        #expect(throws: Never.self) { try parse(String(repeating: "[", count: 16) + String(repeating: "]", count: 16)) }
        let tooDeep = error(Array((String(repeating: "[", count: 17) + String(repeating: "]", count: 17)).utf8))
        #expect(tooDeep?.kind == .tooDeep)
        #expect(tooDeep?.pointer == "/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0")
        let objects = error(Array((String(repeating: "{\"a/b\":", count: 3) + "1}}}").utf8), maxDepth: 2)
        #expect(objects?.pointer == "/a~1b/a~1b")
        // A million open brackets: refused at depth 17, no stack overflow.
        let huge = error(Array(repeating: UInt8(ascii: "["), count: 1_000_000))
        #expect(huge?.kind == .tooDeep)
        // A high limit is honoured by the iterative parser.
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: Never.self) { try parse(deep, maxDepth: 10_000) }
    }

    @Test("duplicate member names are refused with the member's pointer")
    func duplicateKeys() {
        let top = error(Array(#"{"Type":"Start","Type":"End"}"#.utf8))
        #expect(top?.kind == .duplicateKey)
        #expect(top?.pointer == "/Type")
        #expect(top?.offset == 16)
        let nested = error(Array(#"{"a":[{"x":1},{"x":1,"y":2,"x":3}]}"#.utf8))
        #expect(nested?.pointer == "/a/1/x")
        // Large objects switch to a hash set; the duplicate is still found.
        let members = (0..<5000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let large = error(Array(("{" + members + ",\"k4321\":0}").utf8))
        #expect(large?.pointer == "/k4321")
        #expect(throws: Never.self) { try parse("{" + members + "}") }
        // Keys are compared by their exact bytes: "é" precomposed and decomposed are different keys.
        #expect(throws: Never.self) { try parse("{\"\u{E9}\":1,\"e\u{301}\":2}") }
    }

    @Test("input above maxBytes is refused before parsing")
    func tooLarge() {
        do throws(JSONParseError) {
            _ = try JSONParser.parse(Array(repeating: UInt8(ascii: " "), count: 100), maxDepth: 4, maxBytes: 99)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .tooLarge)
        }
    }

    @Test("non-contiguous collections are accepted")
    func nonContiguous() throws {
        let bytes = Array(#"{"a":[1,2]}"#.utf8)
        let value = try JSONParser.parse(bytes.lazy.map { $0 }, maxDepth: 4, maxBytes: 100)
        #expect(value["a"] == .array([.number("1"), .number("2")]))
    }

    @Test("serialized() escapes strings and is compact")
    func serialization() throws {
        let value = JSONValue.o([
            ("q\"uote", .s("back\\slash \u{1} \u{1F} \n\t é 😀 </script>")),
            ("list", .array([.null, .bool(false), .n("-1.250e+2"), .o([])])),
        ])
        let text = value.serialized()
        #expect(text == #"{"q\"uote":"back\\slash \u0001 \u001f \n\t é 😀 </script>","list":[null,false,-1.250e+2,{}]}"#)
        #expect(try parse(text) == value)
        // NUL is escaped correctly on the way out, though the parser refuses it on the way in.
        #expect(JSONValue.s("a\u{0}b").serialized() == #""a\u0000b""#)
    }

    @Test("strings are written as the simple escaper writes them, run by run or char by char: every control character, quotes, backslashes, non-ASCII, at the edges and in a row")
    func stringRuns() throws {
        // The escaper as it was, byte by byte: the reference.
        func reference(_ text: String) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for byte in text.utf8 {
                switch byte {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += Array(#"\n"#.utf8)
                case 0x0D: out += Array(#"\r"#.utf8)
                case 0x09: out += Array(#"\t"#.utf8)
                case 0x08: out += Array(#"\b"#.utf8)
                case 0x0C: out += Array(#"\f"#.utf8)
                case 0..<0x20: out += Array(String(format: "\\u%04x", byte).utf8)
                default: out.append(byte)
                }
            }
            return out + [0x22]
        }
        let alphabet: [String] = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + ["\"", "\\", "a", "Z", "/", "é", "😀", " ", "\u{7F}"]
        var random = SystemRandomNumberGenerator()
        var cases = ["", "plain", "\"", "\\", "\"\"", "a\n", "\na", "é\u{1}é"] + alphabet
        for _ in 0..<2000 {
            cases.append(String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }.joined()))
        }
        for text in cases {
            var written: [UInt8] = [0x41]  // appended after what the buffer holds
            JSONValue.writeString(text, to: &written)
            #expect(Array(written.dropFirst()) == reference(text), "\(text.debugDescription)")
            // The parser refuses NUL on the way in (jsonb cannot store it); everything else reads back.
            if !text.contains("\u{0}") { #expect(try parse(String(decoding: written.dropFirst(), as: UTF8.self)) == .s(text)) }
        }
    }

    @Test("JSONObject keeps order and supports editing")
    func objectEditing() {
        var object = JSONObject([("b", .s("1")), ("a", .s("2"))])
        object["c"] = .null
        object["b"] = .s("3")
        object["a"] = nil
        #expect(object.keys == ["b", "c"])
        #expect(object["b"] == .s("3"))
        #expect(object.count == 2)
        #expect(object.entries.map(\.key) == ["b", "c"])
        #expect(object["\u{212A}"] == nil)  // KELVIN SIGN is not "K"
    }
}
