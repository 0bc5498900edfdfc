package adept.cli;

import adept.io.checkpoint.CheckpointException;
import adept.train.TrainException;
import adept.io.checkpoint.StrictJson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Config files (`adept run --config`, `adept sweep --config`) read into a Gson tree, which adept.train's RunConfig and
 * SweepConfig check: YAML or JSON by extension (.json / .yaml / .yml; otherwise by content). Hardened: bounded size,
 * strict UTF-8, strict JSON, YAML's safe types only, no duplicate keys, YAML 1.1's octal / hexadecimal / base-60
 * integers refused, alias and nesting limits, no recursive aliases. The YAML library stays here, out of the library.
 */
public final class ConfigFiles {
    private ConfigFiles() {}

    /** A config file as a JSON object; errors are one line naming the file. */
    public static JsonObject load(Path file) {
        Path f = file.toAbsolutePath().normalize();
        return tree(read(file), f.getFileName().toString(), file.toString());
    }


    /** Configs are small: at most this many bytes (a device or a runaway file is refused, not read into memory). */
    public static final long MAX_CONFIG_BYTES = 1 << 20;

    /** A config file's text: a regular file of at most {@link #MAX_CONFIG_BYTES}, valid UTF-8; errors name the file. */
    public static String read(Path file) {
        Path f = file.toAbsolutePath().normalize();
        if (!Files.exists(f)) throw new TrainException(file + ": no such config file");
        byte[] bytes;
        try {
            bytes = adept.io.checkpoint.FileOps.readBounded(f, MAX_CONFIG_BYTES, "run config");
        } catch (CheckpointException e) {
            throw new TrainException(e.getMessage().replace(f.toString(), file.toString()));
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new TrainException(file + ": not valid UTF-8 text (" + adept.io.checkpoint.FileOps.firstInvalidUtf8(bytes) + ")");
        }
    }

    /** The text as a JSON object: YAML (safe types only, no duplicate keys) or JSON. */
    public static JsonObject tree(String text, String fileName, String label) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        boolean json = lower.endsWith(".json") || (!lower.endsWith(".yaml") && !lower.endsWith(".yml") && text.stripLeading().startsWith("{"));
        JsonElement root;
        if (json) {
            try {
                root = StrictJson.parse(text);
            } catch (StrictJson.Malformed e) {
                throw new TrainException(label + ": not valid JSON: " + firstLine(e.getMessage()));
            }
        } else {
            LoaderOptions options = new LoaderOptions();
            options.setAllowDuplicateKeys(false);
            options.setAllowRecursiveKeys(false);
            options.setMaxAliasesForCollections(20);
            options.setCodePointLimit(1 << 22);
            options.setNestingDepthLimit(64);
            Object loaded;
            try {
                loaded = new Yaml(new StrictConstructor(options, label)).load(text);
            } catch (org.yaml.snakeyaml.error.MarkedYAMLException e) {
                var mark = e.getProblemMark();
                String at = mark == null ? "" : "line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1) + ": ";
                String problem = e.getProblem() != null ? e.getProblem() : e.getMessage();
                throw new TrainException(label + ": not valid YAML: " + at + String.valueOf(problem).strip().replaceAll("\\s+", " "));
            } catch (YAMLException e) {
                throw new TrainException(label + ": not valid YAML: " + String.valueOf(e.getMessage()).strip().replaceAll("\\s+", " "));
            }
            root = fromYaml(loaded, label, "");
        }
        if (root == null || root.isJsonNull()) throw new TrainException(label + ": empty config (see adept run --keys)");
        if (!root.isJsonObject()) throw new TrainException(label + ": expected keys and values at the top level (see adept run --keys)");
        return root.getAsJsonObject();
    }

    /**
     * Safe types, minus YAML 1.1's surprising integers: 010 (octal 8), 0x10, 0b10 and 1:30 (sexagesimal 90) are refused
     * with their line, rather than read as another number than the one the user meant.
     */
    private static final class StrictConstructor extends SafeConstructor {
        private static final Pattern SURPRISING_INT = Pattern.compile("[-+]?(0[0-9_]+|0[xXbB].*|[0-9][0-9_]*(:[0-5]?[0-9])+)");

        StrictConstructor(LoaderOptions options, String label) {
            super(options);
            org.yaml.snakeyaml.constructor.Construct ints = yamlConstructors.get(org.yaml.snakeyaml.nodes.Tag.INT);
            yamlConstructors.put(org.yaml.snakeyaml.nodes.Tag.INT, new org.yaml.snakeyaml.constructor.AbstractConstruct() {
                @Override
                public Object construct(org.yaml.snakeyaml.nodes.Node node) {
                    String text = ((org.yaml.snakeyaml.nodes.ScalarNode) node).getValue();
                    if (SURPRISING_INT.matcher(text.strip()).matches()) {
                        throw new TrainException(label + ": line " + (node.getStartMark().getLine() + 1) + ": " + text + " is a YAML 1.1 "
                                + (text.contains(":") ? "base-60" : text.matches("[-+]?0[xX].*") ? "hexadecimal" : text.matches("[-+]?0[bB].*") ? "binary" : "octal")
                                + " number (" + ints.construct(node) + "); write it in decimal without a leading zero, or quote it");
                    }
                    return ints.construct(node);
                }
            });
        }
    }

    /** Containers being converted, by identity: a recursive alias (a: &x [*x]) would otherwise recurse forever. */
    private static final ThreadLocal<java.util.IdentityHashMap<Object, Boolean>> CONVERTING = ThreadLocal.withInitial(java.util.IdentityHashMap::new);

    private static JsonElement fromYaml(Object o, String label, String where) {
        if (o instanceof Map<?, ?> || o instanceof List<?>) {
            var open = CONVERTING.get();
            if (open.put(o, Boolean.TRUE) != null) {
                throw new TrainException(label + ": " + (where.isEmpty() ? "" : where.substring(0, where.length() - 1) + ": ")
                        + "a recursive alias (a value that contains itself) is not allowed");
            }
            try {
                return convert(o, label, where);
            } finally {
                open.remove(o);
            }
        }
        return convert(o, label, where);
    }

    private static JsonElement convert(Object o, String label, String where) {
        if (o == null) return JsonNull.INSTANCE;
        if (o instanceof String s) return new JsonPrimitive(s);
        if (o instanceof Boolean b) return new JsonPrimitive(b);
        if (o instanceof Number n) return new JsonPrimitive(n);
        if (o instanceof Map<?, ?> m) {
            JsonObject out = new JsonObject();
            for (var e : m.entrySet()) {
                if (!(e.getKey() instanceof String k)) throw new TrainException(label + ": " + where + "key " + e.getKey() + " is not text");
                out.add(k, fromYaml(e.getValue(), label, where + k + "."));
            }
            return out;
        }
        if (o instanceof List<?> l) {
            JsonArray out = new JsonArray();
            for (int i = 0; i < l.size(); i++) out.add(fromYaml(l.get(i), label, where));
            return out;
        }
        String key = where.isEmpty() ? "" : where.substring(0, where.length() - 1) + ": ";
        throw new TrainException(label + ": " + key + "a " + o.getClass().getSimpleName() + " value is not allowed here (quote it to make it text)");
    }

    private static String firstLine(String message) {
        if (message == null) return "(no message)";
        String m = message.strip();
        int end = m.indexOf('\n');
        return (end < 0 ? m : m.substring(0, end)).strip();
    }
}
