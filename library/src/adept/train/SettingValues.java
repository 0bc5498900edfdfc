package adept.train;

import adept.optim.LrSchedule;
import adept.tensor.DType;
import adept.tensor.Device;
import adept.tune.Granularity;
import adept.tune.RateMode;
import adept.tune.RateNorm;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonPrimitive;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/** Setting values by type: from command-line text, from a config tree, and back to JSON and text. */
final class SettingValues {
    private SettingValues() {}

    /** A named type: how its values are read from text and written as text. */
    private record Named(Function<String, Object> parse, Function<Object, String> label) {}

    private static final Map<Class<?>, Named> NAMED = Map.of(
            TrainMode.class, new Named(TrainMode::parse, v -> ((TrainMode) v).label()),
            Granularity.class, new Named(Granularity::parse, v -> ((Granularity) v).label()),
            RateMode.class, new Named(RateMode::parse, v -> ((RateMode) v).label()),
            RateNorm.class, new Named(RateNorm::parse, v -> ((RateNorm) v).label()),
            LrSchedule.Kind.class, new Named(LrSchedule::parseKind, v -> ((LrSchedule.Kind) v).name().toLowerCase(Locale.ROOT)),
            DType.class, new Named(DType::parse, Object::toString),
            Device.class, new Named(Device::parse, Object::toString),
            Path.class, new Named(t -> Path.of(t), Object::toString));

    static Object parse(Setting s, String text) {
        if (s.type() == List.class) {
            List<Object> out = new ArrayList<>();
            for (String part : text.split(",")) out.add(scalar(s.elementType(), part.strip()));
            return out;
        }
        return scalar(s.type(), text);
    }

    private static Object scalar(Class<?> type, String text) {
        Named named = NAMED.get(type);
        try {
            if (named != null) return named.parse().apply(text);
            if (type == String.class) return text;
            if (type == int.class || type == Integer.class) return Integer.parseInt(text.strip());
            if (type == long.class || type == Long.class) return Long.parseLong(text.strip());
            if (type == double.class || type == Double.class) return Double.parseDouble(text.strip());
            if (type == boolean.class || type == Boolean.class) {
                if (text.equalsIgnoreCase("true") || text.equalsIgnoreCase("false")) return Boolean.parseBoolean(text);
                throw new IllegalArgumentException("expected true or false, got " + text);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected " + expected(type) + ", got " + text);
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {  // TorchException from DType / Device: one line, as an argument error
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        throw new IllegalStateException("no parser for setting type " + type.getName());
    }

    static Object fromJson(Setting s, JsonElement v) {
        if (v == null || v.isJsonNull()) {
            if (!s.nullable()) throw new IllegalArgumentException("expected " + expected(s.type()) + ", got null");
            if (s.defaultValue() != null) throw new IllegalArgumentException("expected a value (default " + s.format(s.defaultValue()) + "), got null");
            return null;
        }
        if (s.type() == List.class) {
            String example = s.elementType() == String.class ? "a list of names, e.g. [q_proj, v_proj]" : "a list of whole numbers, e.g. [3, 7]";
            if (!v.isJsonArray()) throw new IllegalArgumentException("expected " + example + ", got " + v);
            List<Object> out = new ArrayList<>();
            for (JsonElement x : v.getAsJsonArray()) {
                try {
                    out.add(scalarFromJson(s.elementType(), x));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("expected " + example + ", got " + v);
                }
            }
            return out;
        }
        return scalarFromJson(s.type(), v);
    }

    private static Object scalarFromJson(Class<?> type, JsonElement v) {
        boolean text = v.isJsonPrimitive() && v.getAsJsonPrimitive().isString();
        boolean number = v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber();
        if (type == boolean.class || type == Boolean.class) {
            if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isBoolean()) return v.getAsBoolean();
            throw new IllegalArgumentException("expected true or false, got " + v);
        }
        if (type == String.class) {
            if (text || number) return v.getAsString();  // lora_match: adept or a count, which YAML reads as a number
            throw new IllegalArgumentException("expected text, got " + v);
        }
        if (NAMED.containsKey(type)) {
            if (!text) throw new IllegalArgumentException("expected " + expected(type) + ", got " + v);
            return scalar(type, v.getAsString());
        }
        if (type == double.class || type == Double.class) {
            if (number && Double.isFinite(v.getAsDouble())) return v.getAsDouble();
            if (number) throw new IllegalArgumentException("expected a number, got " + v.getAsDouble());  // YAML's .nan / .inf
            return decimal(v, type).doubleValue();  // YAML 1.1 reads 1e-4 as text
        }
        BigDecimal d = decimal(v, type);
        long whole;
        try {
            whole = d.longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("expected " + expected(type) + ", got " + v);
        }
        if (type == int.class || type == Integer.class) {
            if (whole > Integer.MAX_VALUE || whole < Integer.MIN_VALUE) throw new IllegalArgumentException("out of range: " + v);
            return (int) whole;
        }
        return whole;
    }

    private static BigDecimal decimal(JsonElement v, Class<?> type) {
        if (v.isJsonPrimitive() && !v.getAsJsonPrimitive().isBoolean()) {
            try {
                return new BigDecimal(v.getAsString().strip());
            } catch (NumberFormatException e) {
                // below
            }
        }
        throw new IllegalArgumentException("expected " + expected(type) + ", got " + v);
    }

    private static String expected(Class<?> type) {
        if (type == boolean.class || type == Boolean.class) return "true or false";
        if (type == double.class || type == Double.class) return "a number";
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) return "a whole number";
        if (type == Path.class) return "a path";
        return "text";
    }

    static JsonElement toJson(Object v) {
        if (v == null) return JsonNull.INSTANCE;
        if (v instanceof Number n) return new JsonPrimitive(n);
        if (v instanceof Boolean b) return new JsonPrimitive(b);
        if (v instanceof List<?> l) {
            JsonArray a = new JsonArray();
            for (Object x : l) a.add(toJson(x));
            return a;
        }
        return new JsonPrimitive(text(v));
    }

    static String format(Object v) {
        if (v == null) return "none";
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
            return Double.toString(d).replace("E", "e").replace(".0e", "e");
        }
        if (v instanceof List<?> l) {
            List<String> parts = new ArrayList<>();
            for (Object x : l) parts.add(format(x));
            return String.join(",", parts);
        }
        return text(v);
    }

    private static String text(Object v) {
        Named named = NAMED.get(v instanceof Enum<?> e ? e.getDeclaringClass() : v.getClass());
        return named != null ? named.label().apply(v) : v.toString();
    }
}
