package adept.cli;

import adept.train.TrainException;
import adept.train.TrainSettings;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * `adept train`'s options, made from {@link TrainSettings}' fields: the option --kebab-case of each key, its
 * description and default from the field's {@code @Doc} and initial value. The settings are declared once; the
 * command line, the run configs' keys and `adept run --keys` all read that one declaration.
 */
final class SettingOptions {
    private SettingOptions() {}

    /** The kebab-case option of a snake_case key. */
    static String option(String key) {
        return "--" + key.replace('_', '-');
    }

    /** Adds an option per training key to spec (a key with default "required" makes a required option). */
    static void addTo(CommandSpec spec) {
        Map<String, TrainSettings.KeyDoc> docs = new java.util.LinkedHashMap<>();
        for (TrainSettings.KeyDoc d : TrainSettings.reference()) docs.put(d.key(), d);
        for (Field f : fields()) {
            String key = key(f);
            TrainSettings.KeyDoc doc = docs.get(key);
            boolean required = doc.defaultValue().equals("required");
            OptionSpec.Builder b = OptionSpec.builder(option(key)).required(required)
                    .description(escape(doc.description()) + (required ? "" : " (default: " + escape(doc.defaultValue()) + ")"));
            Class<?> type = f.getType();
            if (type == boolean.class || type == Boolean.class) {
                b.type(Boolean.class).negatable(true).arity("0").fallbackValue("true");
            } else if (type == List.class) {
                Class<?> element = (Class<?>) ((java.lang.reflect.ParameterizedType) f.getGenericType()).getActualTypeArguments()[0];
                b.type(List.class).auxiliaryTypes(element).splitRegex(",").paramLabel(element == String.class ? "A,B" : "a,b");
            } else {
                b.type(boxed(type)).paramLabel(label(key, type));
            }
            spec.addOption(b.build());
        }
    }

    /** Settings from the options the user gave; the others keep TrainSettings' defaults. */
    static TrainSettings settings(ParseResult parsed) {
        TrainSettings s = new TrainSettings();
        for (Field f : fields()) {
            String name = option(key(f));
            if (!parsed.hasMatchedOption(name)) continue;
            Object value = parsed.matchedOptionValue(name, null);
            try {
                if (value instanceof java.nio.file.Path p) value = p.toString();
                f.set(s, value);
            } catch (IllegalAccessException | IllegalArgumentException e) {
                throw new TrainException(name + ": cannot take " + value + " (" + e.getMessage() + ")");
            }
        }
        return s;
    }

    private static List<Field> fields() {
        List<Field> out = new ArrayList<>();
        for (Field f : TrainSettings.class.getDeclaredFields()) if (!Modifier.isStatic(f.getModifiers())) out.add(f);
        return out;
    }

    private static String key(Field f) {
        return com.google.gson.FieldNamingPolicy.LOWER_CASE_WITH_UNDERSCORES.translateName(f);
    }

    private static Class<?> boxed(Class<?> type) {
        if (type == int.class) return Integer.class;
        if (type == long.class) return Long.class;
        if (type == double.class) return Double.class;
        return type;
    }

    private static String label(String key, Class<?> type) {
        if (key.equals("model") || key.equals("out")) return "DIR";
        if (key.equals("data") || key.equals("probe") || key.equals("eval")) return "FILE";
        if (type == String.class) return key.toUpperCase(Locale.ROOT);
        return type == double.class || type == Double.class ? "X" : "N";
    }

    /** picocli formats descriptions: a literal % must be doubled. */
    private static String escape(String text) {
        return text.replace("%", "%%");
    }
}
