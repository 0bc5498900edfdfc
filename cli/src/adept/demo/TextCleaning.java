package adept.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;

/** Light cleaning of source text (TeX commands, whitespace) and cutting it into documents of about 1-3k characters. */
public final class TextCleaning {
    private TextCleaning() {}

    public static final int MIN_CHARS = 1000;
    public static final int MAX_CHARS = 3000;

    private static final Pattern SPACES = Pattern.compile("[ \\t\\x0B\\f\\r\\u00A0]+");
    private static final Pattern BLANK_LINES = Pattern.compile("\\n{3,}");
    /** TeX commands whose braced argument is markup, not text (index entries, labels, references). */
    private static final Pattern DROP_WITH_ARG = Pattern.compile(
            "\\\\(label|sidx|kbdsidx|idx|index|tindex|ref|sref|cite|secref|url|input|include|def|let|vskip|hskip|kern|penalty|ifx|newcommand)\\b\\s*(\\{[^{}]*\\})?");
    private static final Pattern COMMAND = Pattern.compile("\\\\[A-Za-z@]+\\*?");
    private static final Pattern COMMAND_WITH_ARG = Pattern.compile("\\\\[A-Za-z@]+\\*?(?=\\{)");
    private static final Pattern ESCAPE = Pattern.compile("\\\\([^A-Za-z\\s])");

    /** Spaces and tabs collapsed, lines trimmed, at most one blank line in a row, no leading or trailing blank. */
    public static String normaliseWhitespace(String text) {
        String t = text.replace("\r\n", "\n");
        StringBuilder out = new StringBuilder(t.length());
        for (String line : t.split("\n", -1)) {
            out.append(SPACES.matcher(line).replaceAll(" ").strip()).append('\n');
        }
        return BLANK_LINES.matcher(out.toString()).replaceAll("\n\n").strip();
    }

    /**
     * TeX source to readable text, lightly: comments and markup-only commands go, other command names go but their
     * arguments stay, braces and math dollars go, {@code ~} becomes a space. Formulas keep their plain symbols (x^2, a_n)
     * while symbol commands ({@code \le}, {@code \alpha}) go: a quick clean, not a TeX renderer.
     */
    public static String stripTex(String tex) {
        StringBuilder noComments = new StringBuilder(tex.length());
        for (String line : tex.split("\n", -1)) {
            int cut = commentStart(line);
            String kept = cut < 0 ? line : line.substring(0, cut);
            if (cut == 0) continue;  // a whole-line comment disappears with its line
            noComments.append(kept).append('\n');
        }
        String t = noComments.toString();
        t = t.replace("\\obr", "\u0001").replace("\\cbr", "\u0002").replace("\\{", "\u0001").replace("\\}", "\u0002");
        t = t.replace("\\bprog", "\n").replace("@eprog", "\n").replace("\\eprog", "\n").replace("@com", " ").replace("@Ccom", " ")
                .replace("@dots", "...").replace("\\\\", "\n");
        t = t.replace("}{", "} {");  // \fun{type}{name}{args}: arguments stay apart
        t = DROP_WITH_ARG.matcher(t).replaceAll("");
        t = COMMAND_WITH_ARG.matcher(t).replaceAll("");  // \\kbd{x} -> {x}
        t = COMMAND.matcher(t).replaceAll(" ");
        t = ESCAPE.matcher(t).replaceAll("$1");
        t = t.replace("{", "").replace("}", "").replace("$", "").replace("~", " ").replace("``", "\"").replace("''", "\"");
        t = t.replace('\u0001', '{').replace('\u0002', '}');
        return normaliseWhitespace(t);
    }

    private static int commentStart(String line) {
        for (int i = 0; i < line.length(); i++) {
            if (line.charAt(i) == '%' && (i == 0 || line.charAt(i - 1) != '\\')) return i;
        }
        return -1;
    }

    /** Paragraphs of text: runs of lines between blank lines. */
    public static List<String> paragraphs(String text) {
        List<String> out = new ArrayList<>();
        for (String p : normaliseWhitespace(text).split("\n\n")) {
            if (!p.isBlank()) out.add(p.strip());
        }
        return out;
    }

    /**
     * Groups consecutive pieces into documents of between about {@link #MIN_CHARS} and {@link #MAX_CHARS} characters
     * (each document's target length drawn from random), joining them with sep; a piece longer than MAX_CHARS is cut at
     * line or word boundaries. A short rest is kept as its own document when at least minRest characters long.
     */
    public static List<String> documents(List<String> pieces, String sep, Random random, int minRest) {
        List<String> out = new ArrayList<>();
        StringBuilder doc = new StringBuilder();
        int target = target(random);
        for (String raw : pieces) {
            for (String piece : cutLong(raw)) {
                if (doc.length() > 0 && doc.length() + sep.length() + piece.length() > MAX_CHARS) {
                    out.add(doc.toString());
                    doc.setLength(0);
                    target = target(random);
                }
                if (doc.length() > 0) doc.append(sep);
                doc.append(piece);
                if (doc.length() >= target) {
                    out.add(doc.toString());
                    doc.setLength(0);
                    target = target(random);
                }
            }
        }
        if (doc.length() >= minRest) out.add(doc.toString());
        return out;
    }

    private static int target(Random random) {
        return MIN_CHARS + random.nextInt(MAX_CHARS - MIN_CHARS + 1);
    }

    /** Pieces of at most MAX_CHARS characters, cut at the last newline (else space) before the limit. */
    static List<String> cutLong(String piece) {
        List<String> out = new ArrayList<>();
        String rest = piece;
        while (rest.length() > MAX_CHARS) {
            int cut = rest.lastIndexOf('\n', MAX_CHARS);
            if (cut < MAX_CHARS / 3) cut = rest.lastIndexOf(' ', MAX_CHARS);
            if (cut < MAX_CHARS / 3) cut = MAX_CHARS;
            out.add(rest.substring(0, cut).strip());
            rest = rest.substring(cut).strip();
        }
        if (!rest.isEmpty()) out.add(rest);
        return out;
    }

    /** Text cut into pieces of at most maxChars at whitespace (for probe items that must fit a context). */
    public static List<String> cutAtWords(String text, int maxChars) {
        List<String> out = new ArrayList<>();
        String rest = text.strip();
        while (rest.length() > maxChars) {
            int cut = rest.lastIndexOf(' ', maxChars);
            if (cut <= 0) cut = maxChars;
            out.add(rest.substring(0, cut).strip());
            rest = rest.substring(cut).strip();
        }
        if (!rest.isEmpty()) out.add(rest);
        return out;
    }
}
