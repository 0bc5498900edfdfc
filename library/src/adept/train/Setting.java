package adept.train;

import com.google.gson.JsonElement;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One training key, read off its declaration: a component of a {@link TrainSettings} group record with its
 * {@link TrainSettings.Doc}. The key is the group's {@link TrainSettings.KeyPrefix} plus the component's name in
 * snake_case; the type parses and writes values ({@link SettingValues}); the default is parsed once from the Doc.
 *
 * @param key          snake_case key (run configs, run.json)
 * @param groupAccess  the TrainSettings component holding the group
 * @param component    the group's component holding the value
 * @param doc          description and default
 * @param defaultValue the parsed default; null when derived, none or required
 */
public record Setting(String key, RecordComponent groupAccess, RecordComponent component, TrainSettings.Doc doc, Object defaultValue) {
    private static final Map<String, Setting> BY_KEY = scan();
    private static final List<Setting> ALL = List.copyOf(BY_KEY.values());

    /** Every setting, in declaration order (group by group). */
    public static List<Setting> all() {
        return ALL;
    }

    /** The setting of a key, if there is one. */
    public static Optional<Setting> find(String key) {
        return Optional.ofNullable(BY_KEY.get(key));
    }

    /** The setting of a key; an unknown key is a one-line error naming it. */
    public static Setting of(String key) {
        return find(key).orElseThrow(() -> new TrainException("unknown key " + key + " (adept run --keys lists them)"));
    }

    /** The group record class. */
    public Class<?> group() {
        return component.getDeclaringRecord();
    }

    /** The value's type (int, Integer, Path, an enum, List...). */
    public Class<?> type() {
        return component.getType();
    }

    /** A List's element type; null for other types. */
    public Class<?> elementType() {
        if (type() != List.class) return null;
        return (Class<?>) ((ParameterizedType) component.getGenericType()).getActualTypeArguments()[0];
    }

    /** A value must be given (model, data, out, steps). */
    public boolean required() {
        return doc.defaultValue().equals(TrainSettings.Doc.REQUIRED);
    }

    /** May be null: a derived value, an optional file or a required one not yet given. */
    public boolean nullable() {
        return !type().isPrimitive();
    }

    /** The default as the tables show it: the value, "required", or the derivation in words. */
    public String defaultText() {
        if (required()) return TrainSettings.Doc.REQUIRED;
        if (defaultValue != null) return format(defaultValue);
        return doc.derived().isEmpty() ? "none" : doc.derived();
    }

    /** The `adept train` option: --kebab-case. */
    public String option() {
        return "--" + key.replace('_', '-');
    }

    /** The builder's method of this key: camelCase (lora_rank: loraRank). */
    public String builderMethod() {
        StringBuilder b = new StringBuilder();
        boolean upper = false;
        for (char c : key.toCharArray()) {
            if (c == '_') {
                upper = true;
            } else {
                b.append(upper ? Character.toUpperCase(c) : c);
                upper = false;
            }
        }
        return b.toString();
    }

    /** The value from text, as on the command line (a list: comma-separated); a bad one is an IllegalArgumentException. */
    public Object parse(String text) {
        return SettingValues.parse(this, text);
    }

    /** The value from a config tree (YAML or JSON); a bad one is an IllegalArgumentException saying what was expected. */
    public Object fromJson(JsonElement value) {
        return SettingValues.fromJson(this, value);
    }

    /** A value as run.json writes it. */
    public JsonElement toJson(Object value) {
        return SettingValues.toJson(value);
    }

    /** A value as text, as a config file would spell it (1e-4, cosine, q_proj,v_proj). */
    public String format(Object value) {
        return SettingValues.format(value);
    }

    /** This key's value in settings. */
    public Object valueIn(TrainSettings settings) {
        return valueInGroup((Record) read(groupAccess, settings));
    }

    /** This key's value in its group record. */
    Object valueInGroup(Record group) {
        return read(component, group);
    }

    private static Object read(RecordComponent c, Object target) {
        try {
            return c.getAccessor().invoke(target);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read " + c.getName(), e);
        }
    }

    private static Map<String, Setting> scan() {
        Map<String, Setting> out = new LinkedHashMap<>();
        for (RecordComponent g : TrainSettings.class.getRecordComponents()) {
            TrainSettings.KeyPrefix prefix = g.getType().getAnnotation(TrainSettings.KeyPrefix.class);
            for (RecordComponent c : g.getType().getRecordComponents()) {
                String key = (prefix == null ? "" : prefix.value()) + snake(c.getName());
                TrainSettings.Doc doc = c.getAnnotation(TrainSettings.Doc.class);
                if (doc == null) throw new IllegalStateException("TrainSettings." + g.getName() + "." + c.getName() + " has no @Doc");
                Setting bare = new Setting(key, g, c, doc, null);
                Object value = null;
                if (doc.defaultValue().equals(TrainSettings.Doc.REQUIRED)) {
                    value = c.getType().isPrimitive() ? SettingValues.parse(bare, "0") : null;
                } else if (!doc.defaultValue().isEmpty()) {
                    value = SettingValues.parse(bare, doc.defaultValue());
                } else if (c.getType().isPrimitive()) {
                    throw new IllegalStateException(key + ": a primitive setting needs a defaultValue");
                }
                if (out.put(key, new Setting(key, g, c, doc, value)) != null) throw new IllegalStateException("key " + key + " declared twice");
            }
        }
        return Collections.unmodifiableMap(out);
    }

    private static String snake(String camel) {
        StringBuilder b = new StringBuilder();
        for (char c : camel.toCharArray()) {
            if (Character.isUpperCase(c)) b.append('_').append(Character.toLowerCase(c));
            else b.append(c);
        }
        return b.toString().toLowerCase(Locale.ROOT);
    }
}
