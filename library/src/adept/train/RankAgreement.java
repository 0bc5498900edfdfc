package adept.train;

import adept.parallel.ProcessGroup;
import adept.io.checkpoint.Checksums;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Data-parallel ranks must run the same training: the same settings (a different lr trains on silently; a different
 * mode or log_every issues other collectives, which abort natively or hang) on the same model and data. Before the
 * first collective that depends on them, every rank hashes each of these and the ranks compare the hashes (sums
 * over the group); a difference stops every rank with one line naming the setting. Paths are compared by content
 * (the token cache's key, the model's config and weight sizes, probe / eval checksums), so ranks may see the same
 * files under other mounts.
 */
final class RankAgreement {
    /** Settings a rank may have of its own: where it writes (rank 0 alone does), its device, its memory trade-offs. */
    static final Set<String> PER_RANK = Set.of("out", "device", "probe_cache_memory", "grad_checkpointing", "model", "data", "probe", "eval");

    private RankAgreement() {}

    /** Throws a {@link TrainException} on every rank when any of them differs in a setting, model or data. */
    static void check(ProcessGroup group, TrainSettings s, Path modelDir, Path tokenFile) {
        Map<String, String> values = fingerprint(s, modelDir, tokenFile);
        double[] local = new double[2 * values.size()];
        int i = 0;
        for (String v : values.values()) {
            // 20 bits each: sums of h and h^2 stay exact in float64 for any world size below 2^11.
            long h = sha256Low(v) & ((1L << 20) - 1);
            local[i++] = h;
            local[i++] = (double) h * h;
        }
        double[] sums = group.sum(local);
        long n = group.size();
        i = 0;
        for (var e : values.entrySet()) {
            long sum = (long) sums[i++];
            long squares = (long) sums[i++];
            // All equal exactly when n * sum(h^2) == sum(h)^2 (Cauchy-Schwarz).
            if (n * squares != sum * sum) {
                throw new TrainException("data-parallel ranks disagree on " + e.getKey() + " (rank " + group.rank() + ": " + shorten(e.getValue())
                        + "); start every rank with the same settings, model and data");
            }
        }
    }

    static Map<String, String> fingerprint(TrainSettings s, Path modelDir, Path tokenFile) {
        Map<String, String> out = new LinkedHashMap<>();
        JsonObject o = s.toJsonObject();
        for (String key : TrainSettings.keys()) if (!PER_RANK.contains(key)) out.put(key, String.valueOf(o.get(key)));
        out.put("data", "tokens " + tokenFile.getFileName());  // the cache key: the corpus's content and the tokenizer
        out.put("model", modelSignature(modelDir));
        out.put("probe", s.inputs().probe() == null ? "none" : contentOf(s.inputs().probe()));
        out.put("eval", s.inputs().eval() == null ? "none" : contentOf(s.inputs().eval()));
        return out;
    }

    private static String modelSignature(Path modelDir) {
        StringBuilder b = new StringBuilder(contentOf(modelDir.resolve("config.json")));
        try (var files = Files.list(modelDir)) {
            files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(p -> {
                try {
                    b.append(' ').append(p.getFileName()).append('=').append(Files.size(p));
                } catch (IOException e) {
                    b.append(' ').append(p.getFileName()).append("=?");
                }
            });
        } catch (IOException e) {
            b.append(" unreadable");
        }
        return b.toString();
    }

    private static String contentOf(Path file) {
        try {
            return "crc32c " + Checksums.crc32c(file) + ", " + Files.size(file) + " bytes";
        } catch (IOException e) {
            return "unreadable " + file;
        }
    }

    private static String shorten(String v) {
        return v.length() > 80 ? v.substring(0, 77) + "..." : v;
    }

    private static long sha256Low(String v) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(v.getBytes(StandardCharsets.UTF_8));
            return java.nio.ByteBuffer.wrap(d).getLong();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
