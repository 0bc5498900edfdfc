package adept.probe;

import java.math.BigDecimal;
import java.util.Locale;

/** Sizes in bytes written as people write them: 4GiB, 512MiB, 1.5GB, 1048576 (binary suffixes are powers of 1024, decimal ones of 1000). */
public final class MemorySize {
    private MemorySize() {}

    private static final String[] BINARY = {"KIB", "MIB", "GIB", "TIB"};
    private static final String[] DECIMAL = {"KB", "MB", "GB", "TB"};

    /**
     * Bytes of text: a number (fractions allowed) followed by B, KiB, MiB, GiB, TiB (powers of 1024), KB, MB, GB, TB
     * (powers of 1000) or nothing (bytes); case and spaces between number and unit do not matter. Throws
     * IllegalArgumentException, naming what it expected, for anything else or a size under one byte.
     */
    public static long parse(String text) {
        if (text == null) throw new IllegalArgumentException("expected a size such as 4GiB or 512MiB, got nothing");
        String t = text.strip().toUpperCase(Locale.ROOT);
        int end = 0;
        while (end < t.length() && (Character.isDigit(t.charAt(end)) || t.charAt(end) == '.')) end++;
        String number = t.substring(0, end);
        String unit = t.substring(end).strip();
        long scale = -1;
        if (unit.isEmpty() || unit.equals("B")) scale = 1;
        for (int i = 0; i < BINARY.length; i++) {
            if (unit.equals(BINARY[i])) scale = 1L << (10 * (i + 1));
            if (unit.equals(DECIMAL[i])) scale = (long) Math.pow(1000, i + 1);
        }
        BigDecimal value;
        try {
            value = new BigDecimal(number);
        } catch (NumberFormatException e) {
            value = null;
        }
        if (value == null || scale < 0) throw new IllegalArgumentException("expected a size such as 4GiB or 512MiB, got '" + text + "'");
        BigDecimal bytes = value.multiply(BigDecimal.valueOf(scale));
        if (bytes.compareTo(BigDecimal.ONE) < 0) throw new IllegalArgumentException("a size must be at least 1 byte, got '" + text + "'");
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) throw new IllegalArgumentException("size too large: '" + text + "'");
        return bytes.longValue();
    }

    /** bytes in the largest binary unit that keeps a value of at least 1, to 3 significant digits at most: 4 GiB, 268 MiB, 1.5 KiB. */
    public static String format(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        String n = v >= 100 || u == 0 ? String.format(Locale.ROOT, "%.0f", v) : v >= 10 ? String.format(Locale.ROOT, "%.1f", v)
                : String.format(Locale.ROOT, "%.2f", v);
        if (n.contains(".")) n = n.replaceAll("0+$", "").replaceAll("\\.$", "");
        return n + " " + units[u];
    }
}
