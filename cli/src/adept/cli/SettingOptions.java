package adept.cli;

import adept.train.Setting;
import adept.train.TrainException;
import adept.train.TrainSettings;
import adept.train.TrainSettingsBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * `adept train`'s options, made from the training keys ({@link Setting#all}): the option --kebab-case of each key, its
 * description and default from the key's declaration in {@link TrainSettings}. Numbers and booleans are typed by
 * picocli; every other value (paths, modes, dtypes, devices, lists) is read by the key's own parser, the same one the
 * config files' and run.json's values go through.
 */
final class SettingOptions {
    private SettingOptions() {}

    /** Adds an option per training key to spec (a required key makes a required option). */
    static void addTo(CommandSpec spec) {
        for (Setting k : Setting.all()) {
            OptionSpec.Builder b = OptionSpec.builder(k.option()).required(k.required())
                    .description(escape(k.doc().value()) + (k.required() ? "" : " (default: " + escape(k.defaultText()) + ")"));
            Class<?> type = k.type();
            if (type == boolean.class || type == Boolean.class) {
                b.type(Boolean.class).negatable(true).arity("0").fallbackValue("true");
            } else if (type == List.class) {
                b.type(List.class).auxiliaryTypes(String.class).splitRegex(",").paramLabel(k.elementType() == String.class ? "A,B" : "a,b");
            } else if (number(type) != null) {
                b.type(number(type)).paramLabel(type == double.class || type == Double.class ? "X" : "N");
            } else {
                b.type(String.class).paramLabel(label(k));
            }
            spec.addOption(b.build());
        }
    }

    /** A builder holding the options the user gave; the other keys keep their defaults. */
    static TrainSettingsBuilder settings(ParseResult parsed) {
        TrainSettingsBuilder b = TrainSettings.builder();
        for (Setting k : Setting.all()) {
            if (!parsed.hasMatchedOption(k.option())) continue;
            Object value = parsed.matchedOptionValue(k.option(), null);
            try {
                if (value instanceof List<?> l) value = k.parse(String.join(",", l.stream().map(String::valueOf).toList()));
                else if (value instanceof String text) value = k.parse(text);
            } catch (IllegalArgumentException e) {
                throw new TrainException(k.option() + ": " + e.getMessage());
            }
            b.set(k.key(), value);
        }
        return b;
    }

    private static Class<?> number(Class<?> type) {
        if (type == int.class || type == Integer.class) return Integer.class;
        if (type == long.class || type == Long.class) return Long.class;
        if (type == double.class || type == Double.class) return Double.class;
        return null;
    }

    private static String label(Setting k) {
        if (k.type() == Path.class) return k.key().equals("model") || k.key().equals("out") ? "DIR" : "FILE";
        return k.key().toUpperCase(Locale.ROOT);
    }

    /** picocli formats descriptions: a literal % must be doubled. */
    private static String escape(String text) {
        return text.replace("%", "%%");
    }
}
