<?php
// Helpers the text-protocol client scripts share.

// The flags and length the server stores, read over a plain socket: the
// extensions keep their own flag bits (serialized, compressed, type) away
// from the caller.
function raw($port, $key) {
    $s = fsockopen('127.0.0.1', $port);
    fwrite($s, "get $key\r\n");
    $line = rtrim(fgets($s), "\r\n");
    fclose($s);
    $f = explode(' ', $line);
    return $f[0] === 'VALUE' ? "flags=$f[2] bytes=$f[3]" : $line;
}

// A deterministic value that no compressor shrinks.
function noise($n) {
    $s = '';
    for ($i = 0; strlen($s) < $n; $i++) $s .= md5("cachectl$i", true);
    return substr($s, 0, $n);
}
