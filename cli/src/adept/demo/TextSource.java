package adept.demo;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where the demo's text comes from: general English and domain (mathematics) documents of about 1-3k characters each,
 * already cleaned. {@link DebianText} downloads public-domain and free text from Debian packages; tests plug in a small
 * local corpus instead, so the pipeline runs without a network.
 */
public interface TextSource {
    /** One document: its text and where it came from (a short source name, e.g. "kjv", "pari"). */
    record Document(String text, String source) {}

    /** A package (or other origin) the text came from, with its version and licence, for the report. */
    record Origin(String name, String version, String licence, String what) {}

    /** The general and domain documents and where they came from. */
    record Text(List<Document> general, List<Document> domain, List<Origin> origins) {}

    /** Reads (downloading into cache when needed) the text; log receives one-line progress notes. */
    Text read(Path cache, Consumer<String> log);

    /** The domain's name, for the report ("mathematics"). */
    default String domainName() {
        return "mathematics";
    }
}
