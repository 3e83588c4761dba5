package dev.edgekit.core

/** A small strict JSON reader (RFC 8259) for manifests and fixture indexes: objects become
 *  Map<String, Any?>, arrays List<Any?>, numbers Double, plus String, Boolean and null. */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipSpace()
        val value = reader.value()
        reader.skipSpace()
        if (reader.pos != text.length) throw reader.fail("unexpected text after the JSON value")
        return value
    }

    private class Reader(val s: String) {
        var pos = 0

        fun fail(what: String) = IllegalArgumentException("invalid JSON at character $pos: $what")

        fun skipSpace() {
            while (pos < s.length && s[pos] in " \t\r\n") pos++
        }

        fun value(): Any? {
            if (pos >= s.length) throw fail("unexpected end")
            return when (val c = s[pos]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c in '0'..'9') num() else throw fail("unexpected '$c'")
            }
        }

        private fun literal(word: String, result: Any?): Any? {
            if (!s.startsWith(word, pos)) throw fail("expected $word")
            pos += word.length
            return result
        }

        private fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (pos < s.length && s[pos] == '}') { pos++; return out }
            while (true) {
                skipSpace()
                if (pos >= s.length || s[pos] != '"') throw fail("expected a key")
                val key = str()
                skipSpace()
                if (pos >= s.length || s[pos] != ':') throw fail("expected ':'")
                pos++
                skipSpace()
                out[key] = value()
                skipSpace()
                if (pos >= s.length) throw fail("unexpected end in an object")
                when (s[pos++]) {
                    ',' -> continue
                    '}' -> return out
                    else -> { pos--; throw fail("expected ',' or '}'") }
                }
            }
        }

        private fun arr(): List<Any?> {
            val out = ArrayList<Any?>()
            pos++
            skipSpace()
            if (pos < s.length && s[pos] == ']') { pos++; return out }
            while (true) {
                skipSpace()
                out.add(value())
                skipSpace()
                if (pos >= s.length) throw fail("unexpected end in an array")
                when (s[pos++]) {
                    ',' -> continue
                    ']' -> return out
                    else -> { pos--; throw fail("expected ',' or ']'") }
                }
            }
        }

        private fun str(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (pos >= s.length) throw fail("unterminated string")
                val c = s[pos++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (pos >= s.length) throw fail("unterminated escape")
                        when (val e = s[pos++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (pos + 4 > s.length) throw fail("short \\u escape")
                                out.append(s.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }
                            else -> throw fail("bad escape \\$e")
                        }
                    }
                    c < ' ' -> throw fail("control character in a string")
                    else -> out.append(c)
                }
            }
        }

        private fun num(): Double {
            val start = pos
            if (s[pos] == '-') pos++
            while (pos < s.length && (s[pos].isDigit() || s[pos] in ".eE+-")) pos++
            return s.substring(start, pos).toDoubleOrNull() ?: throw fail("bad number ${s.substring(start, pos)}")
        }
    }
}
