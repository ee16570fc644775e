// SunPKCS11 scenarios against the Craton HSM module, one JVM launch for all
// (a JVM start costs about a second).  Prints one JSON object; the Python
// test checks every value with `cryptography`, never with Java itself.
//
// args: <provider cfg> <user PIN> <message hex> <RSA PKCS#1 v1.5 ciphertext
//       hex> <AES key hex> <GCM IV hex> <GCM ciphertext||tag hex>
//       <peer P-256 public key, X.509 SubjectPublicKeyInfo DER hex>
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.HexFormat;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.KeyGenerator;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public final class CratonClient {
    private static final HexFormat HEX = HexFormat.of();

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, args[1].toCharArray());
        byte[] msg = HEX.parseHex(args[2]);
        StringBuilder out = new StringBuilder("{");
        out.append(field("provider", p.getName())).append(',');

        // Signatures with the token keys keytool generated; the test
        // verifies them against the certificates' public keys.
        out.append(field("SHA256withRSA",
                sign("SHA256withRSA", key(ks, "jrsa", args[1]), msg, p)));
        out.append(',').append(field("SHA256withECDSA",
                sign("SHA256withECDSA", key(ks, "jec", args[1]), msg, p)));
        out.append(',').append(field("SHA256withRSASSA-PSS",
                sign("SHA256withRSASSA-PSS", key(ks, "jrsa", args[1]), msg,
                     p)));

        // RSA decryption of a ciphertext the test made with the public key.
        Cipher rsa = Cipher.getInstance("RSA/ECB/PKCS1Padding", p);
        rsa.init(Cipher.DECRYPT_MODE, key(ks, "jrsa", args[1]));
        out.append(',').append(field("RSA/ECB/PKCS1Padding",
                HEX.formatHex(rsa.doFinal(HEX.parseHex(args[3])))));

        // AES-GCM with an imported key (SunPKCS11 creates a session object):
        // encrypt for the test to decrypt, decrypt what the test encrypted.
        SecretKey aes = new SecretKeySpec(HEX.parseHex(args[4]), "AES");
        byte[] iv = HEX.parseHex(args[5]);
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding", p);
        gcm.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        gcm.updateAAD("craton".getBytes("US-ASCII"));
        out.append(',').append(field("AES/GCM/NoPadding encrypt",
                HEX.formatHex(gcm.doFinal(msg))));
        gcm.init(Cipher.DECRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        gcm.updateAAD("craton".getBytes("US-ASCII"));
        out.append(',').append(field("AES/GCM/NoPadding decrypt",
                HEX.formatHex(gcm.doFinal(HEX.parseHex(args[6])))));

        // A key generated inside the token, used for a GCM round trip.
        KeyGenerator kg = KeyGenerator.getInstance("AES", p);
        kg.init(256);
        SecretKey gen = kg.generateKey();
        gcm.init(Cipher.ENCRYPT_MODE, gen, new GCMParameterSpec(128, iv));
        byte[] ct = gcm.doFinal(msg);
        gcm.init(Cipher.DECRYPT_MODE, gen, new GCMParameterSpec(128, iv));
        out.append(',').append(field("generated AES round trip",
                HEX.formatHex(gcm.doFinal(ct))));

        // HMAC with the imported key bytes (C_SignInit on a generic secret).
        Mac mac = Mac.getInstance("HmacSHA256", p);
        mac.init(new SecretKeySpec(HEX.parseHex(args[4]), "HmacSHA256"));
        out.append(',').append(field("HmacSHA256",
                HEX.formatHex(mac.doFinal(msg))));

        // ECDH: a P-256 key pair generated in the token agrees with the
        // test's peer key (CKM_ECDH1_DERIVE); the secret and the token's
        // public key go out so the test can compute the same secret.
        KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", p);
        kpg.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair mine = kpg.generateKeyPair();
        KeyAgreement ka = KeyAgreement.getInstance("ECDH", p);
        ka.init(mine.getPrivate());
        ka.doPhase(KeyFactory.getInstance("EC").generatePublic(
                new X509EncodedKeySpec(HEX.parseHex(args[7]))), true);
        out.append(',').append(field("ECDH secret",
                HEX.formatHex(ka.generateSecret())));
        out.append(',').append(field("ECDH public",
                HEX.formatHex(mine.getPublic().getEncoded())));
        System.out.println(out.append('}'));
    }

    private static PrivateKey key(KeyStore ks, String alias, String pin)
            throws Exception {
        return (PrivateKey) ks.getKey(alias, pin.toCharArray());
    }

    private static String sign(String alg, PrivateKey k, byte[] msg,
                               Provider p) throws Exception {
        Signature s = Signature.getInstance(alg, p);
        s.initSign(k);
        s.update(msg);
        return HEX.formatHex(s.sign());
    }

    private static String field(String name, String value) {
        return '"' + name + "\":\"" + value + '"';
    }
}
