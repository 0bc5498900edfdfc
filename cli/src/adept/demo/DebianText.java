package adept.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The demo's text from Debian packages, fetched with {@code apt-get download} (no root needed) into the cache and
 * unpacked with {@code dpkg-deb -x}:
 *
 * <ul>
 *   <li>general English: the King James Bible ({@code bible-kjv-text}, read with the {@code bible} program of
 *       {@code bible-kjv}, public domain), the fortune cookies of {@code fortunes} and {@code fortunes-min} (BSD), and
 *       WordNet 3.0 glosses ({@code wordnet-base}, WordNet licence);
 *   <li>mathematics: the TeX sources of the PARI/GP user's manual and tutorials ({@code pari-doc}, GPL-2+), lightly
 *       stripped of TeX commands.
 * </ul>
 *
 * Per-source character budgets keep the mix balanced (WordNet alone would outweigh the rest). Everything is cached: the
 * .deb files, the unpacked trees and the cleaned text of each source.
 */
public final class DebianText implements TextSource {
    /** Packages fetched, with licence and what is taken from each. */
    static final Map<String, String[]> PACKAGES = new LinkedHashMap<>();

    static {
        PACKAGES.put("bible-kjv-text", new String[] {"public domain", "King James Bible text (general)"});
        PACKAGES.put("bible-kjv", new String[] {"public domain (text), GPL-2 (program)", "the bible program that decompresses it"});
        PACKAGES.put("fortunes", new String[] {"BSD", "fortune cookies, all files but ascii-art (general)"});
        PACKAGES.put("fortunes-min", new String[] {"BSD", "fortune cookies (general)"});
        PACKAGES.put("wordnet-base", new String[] {"WordNet 3.0 licence", "WordNet 3.0 glosses (general)"});
        PACKAGES.put("pari-doc", new String[] {"GPL-2+", "PARI/GP manual and tutorials, TeX sources (mathematics)"});
    }

    private final long generalChars;
    private final long domainChars;
    private final long seed;

    /** generalChars / domainChars: budgets of cleaned text; each general source gets a share of generalChars. */
    public DebianText(long generalChars, long domainChars, long seed) {
        this.generalChars = generalChars;
        this.domainChars = domainChars;
        this.seed = seed;
    }

    @Override
    public Text read(Path cache, Consumer<String> log) {
        Path debs = cache.resolve("debs");
        Path trees = cache.resolve("unpacked");
        List<Origin> origins = new ArrayList<>();
        try {
            Files.createDirectories(debs);
            Files.createDirectories(trees);
            for (var e : PACKAGES.entrySet()) {
                Path deb = download(e.getKey(), debs, log);
                String version = run(List.of("dpkg-deb", "-f", deb.toString(), "Version"), null).strip();
                origins.add(new Origin(e.getKey(), version, e.getValue()[0], e.getValue()[1]));
                Path tree = trees.resolve(e.getKey());
                if (!Files.isDirectory(tree)) {
                    Path tmp = trees.resolve("." + e.getKey() + ".tmp");
                    deleteTree(tmp);
                    Files.createDirectories(tmp);
                    run(List.of("dpkg-deb", "-x", deb.toString(), tmp.toString()), null);
                    Files.move(tmp, tree);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare " + cache + ": " + e.getMessage(), e);
        }
        Random random = new Random(seed);
        long share = generalChars / 3;
        List<Document> general = new ArrayList<>();
        general.addAll(budget(kjv(trees, log), share, random));
        general.addAll(budget(fortunes(trees), share, random));
        general.addAll(budget(wordnet(trees, random), share, random));
        List<Document> domain = budget(pari(trees, random), domainChars, random);
        log.accept(String.format("text: %,d general documents (%s), %,d mathematics documents (%,d characters)", general.size(),
                countBySource(general), domain.size(), domain.stream().mapToLong(d -> d.text().length()).sum()));
        return new Text(general, domain, origins);
    }

    /** The cached .deb of pkg, or a fresh {@code apt-get download} of it. */
    static Path download(String pkg, Path debs, Consumer<String> log) throws IOException {
        Path found = findDeb(pkg, debs);
        if (found != null) return found;
        log.accept("downloading Debian package " + pkg + " (apt-get download)");
        try {
            run(List.of("apt-get", "download", "-q", pkg), debs);
        } catch (DemoException e) {
            throw new DemoException("cannot download the Debian package " + pkg + " with apt-get (" + e.getMessage()
                    + "); check the network and run 'sudo apt-get update', or put " + pkg + "_*.deb into " + debs);
        }
        found = findDeb(pkg, debs);
        if (found == null) throw new DemoException("apt-get download " + pkg + " wrote no .deb into " + debs);
        return found;
    }

    private static Path findDeb(String pkg, Path debs) throws IOException {
        try (Stream<Path> files = Files.list(debs)) {
            return files.filter(f -> f.getFileName().toString().startsWith(pkg + "_") && f.getFileName().toString().endsWith(".deb"))
                    .sorted().findFirst().orElse(null);
        }
    }

    /** Runs a command; its standard output, or a DemoException with the last line of its error output. */
    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");

    /**
     * command, run so that it dies with this JVM, kill -9 included (util-linux's setpriv sets the parent-death signal,
     * which survives the exec): a long spm_train must not outlive an interrupted adept. As is where setpriv is missing.
     */
    static List<String> diesWithUs(List<String> command) {
        if (!Files.isExecutable(SETPRIV)) return command;
        List<String> wrapped = new java.util.ArrayList<>(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    static String run(List<String> command, Path dir) {
        try {
            ProcessBuilder pb = new ProcessBuilder(diesWithUs(command));
            if (dir != null) pb.directory(dir.toFile());
            Path err = Files.createTempFile("adept-demo", ".err");
            pb.redirectError(err.toFile());
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                throw new DemoException(command.get(0) + " is not installed (" + e.getMessage() + ")");
            }
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.MINUTES)) p.destroyForcibly();
            String errText = Files.readString(err, StandardCharsets.ISO_8859_1);
            Files.deleteIfExists(err);
            if (p.exitValue() != 0) {
                List<String> lines = errText.lines().filter(l -> !l.isBlank() && !l.startsWith("W: ")).toList();
                String last = lines.isEmpty() ? "exit status " + p.exitValue() : lines.get(lines.size() - 1).strip();
                throw new DemoException(String.join(" ", command.subList(0, Math.min(3, command.size()))) + ": " + last);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DemoException("interrupted while running " + command.get(0));
        }
    }

    /** KJV chapters cut into documents; verse references dropped. Empty (with a note) when the bible program cannot run. */
    static List<Document> kjv(Path trees, Consumer<String> log) {
        Path program = trees.resolve("bible-kjv/usr/bin/bible");
        Path data = trees.resolve("bible-kjv-text/usr/lib");
        String text;
        try {
            text = run(List.of(program.toString(), "-f", "-p", data.toString(), "-d", "bible.data", "Ge1:1-Re22:21"), null);
        } catch (DemoException e) {
            log.accept("note: the KJV text is left out: " + e.getMessage());
            return List.of();
        }
        List<Document> out = new ArrayList<>();
        Random random = new Random(7);
        String chapter = null;
        List<String> verses = new ArrayList<>();
        for (String line : text.split("\n")) {
            int space = line.indexOf(' ');
            if (space < 0) continue;
            String ref = line.substring(0, space);
            int colon = ref.indexOf(':');
            String ch = colon < 0 ? ref : ref.substring(0, colon);
            if (!ch.equals(chapter) && !verses.isEmpty()) {
                for (String d : TextCleaning.documents(verses, " ", random, 200)) out.add(new Document(d, "kjv"));
                verses.clear();
            }
            chapter = ch;
            verses.add(line.substring(space + 1).strip());
        }
        for (String d : TextCleaning.documents(verses, " ", random, 200)) out.add(new Document(d, "kjv"));
        return out;
    }

    /** Fortune cookies (files split at lines of "%"), de-duplicated, grouped into documents file by file. */
    static List<Document> fortunes(Path trees) {
        List<Document> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        Random random = new Random(11);
        for (String pkg : List.of("fortunes", "fortunes-min")) {
            Path dir = trees.resolve(pkg).resolve("usr/share/games/fortunes");
            if (!Files.isDirectory(dir)) continue;
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(f -> Files.isRegularFile(f) && !f.getFileName().toString().contains(".")
                        && !f.getFileName().toString().equals("ascii-art")).sorted().toList();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            for (Path f : files) {
                String text = readLenient(f);
                List<String> cookies = new ArrayList<>();
                for (String c : text.split("\n%\n")) {
                    String t = TextCleaning.normaliseWhitespace(c.replace("\t", " "));
                    if (t.isEmpty() || t.equals("%") || !seen.add(t)) continue;
                    cookies.add(t);
                }
                for (String d : TextCleaning.documents(cookies, "\n\n", random, 300)) out.add(new Document(d, "fortunes"));
            }
        }
        return out;
    }

    /** WordNet glosses as "word: gloss" lines, runs of consecutive synsets as documents. */
    static List<Document> wordnet(Path trees, Random random) {
        Path dir = trees.resolve("wordnet-base/usr/share/wordnet");
        List<Document> out = new ArrayList<>();
        for (String pos : List.of("noun", "verb", "adj", "adv")) {
            Path f = dir.resolve("data." + pos);
            if (!Files.isRegularFile(f)) continue;
            List<String> lines = new ArrayList<>();
            for (String line : readLenient(f).split("\n")) {
                if (line.startsWith("  ") || line.isBlank()) continue;  // the licence header
                int bar = line.indexOf(" | ");
                if (bar < 0) continue;
                String[] fields = line.substring(0, bar).split(" ");
                if (fields.length < 5) continue;
                String word = fields[4].replace('_', ' ');
                int paren = word.indexOf('(');
                if (paren > 0) word = word.substring(0, paren);
                lines.add(word + ": " + line.substring(bar + 3).strip());
            }
            for (String d : TextCleaning.documents(lines, "\n", random, 300)) out.add(new Document(d, "wordnet"));
        }
        return out;
    }

    /** The PARI/GP user's manual chapters and tutorials, TeX stripped, paragraphs grouped into documents. */
    static List<Document> pari(Path trees, Random random) {
        Path dir = trees.resolve("pari-doc/usr/share/pari/doc");
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(f -> f.getFileName().toString().matches("(usersch\\d+|tutorial.*)\\.tex")).sorted().toList();
        } catch (IOException e) {
            throw new DemoException("pari-doc has no TeX sources in " + dir);
        }
        List<Document> out = new ArrayList<>();
        for (Path f : files) {
            String text = TextCleaning.stripTex(readLenient(f));
            for (String d : TextCleaning.documents(TextCleaning.paragraphs(text), "\n\n", random, 300)) out.add(new Document(d, "pari"));
        }
        return out;
    }

    /** A seeded sample of documents totalling at most chars characters (all of them when they fit), in source order. */
    static List<Document> budget(List<Document> docs, long chars, Random random) {
        long total = docs.stream().mapToLong(d -> d.text().length()).sum();
        if (total <= chars) return docs;
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) order.add(i);
        Collections.shuffle(order, random);
        boolean[] keep = new boolean[docs.size()];
        long sum = 0;
        for (int i : order) {
            if (sum >= chars) break;
            keep[i] = true;
            sum += docs.get(i).text().length();
        }
        List<Document> out = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) if (keep[i]) out.add(docs.get(i));
        return out;
    }

    static String countBySource(List<Document> docs) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (Document d : docs) counts.merge(d.source(), 1, Integer::sum);
        StringBuilder b = new StringBuilder();
        counts.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ').append(v));
        return b.toString();
    }

    /** UTF-8, or Latin-1 for files that are not valid UTF-8. */
    static String readLenient(Path f) {
        try {
            byte[] bytes = Files.readAllBytes(f);
            var decoder = StandardCharsets.UTF_8.newDecoder();
            try {
                return decoder.decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                return new String(bytes, StandardCharsets.ISO_8859_1);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (Files.exists(p)) adept.io.checkpoint.FileOps.deleteRecursively(p);
    }
}
