package adept;

/** adept's version, as recorded in what it writes (expansion metadata, probe reports). */
public final class AdeptVersion {
    private AdeptVersion() {}

    /** The library jar's Implementation-Version; "dev" for classes run from a build folder (tests, an IDE). */
    public static String current() {
        String v = AdeptVersion.class.getPackage().getImplementationVersion();
        return v == null || v.isBlank() ? "dev" : v;
    }
}
