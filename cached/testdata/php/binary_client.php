<?php
// Drives PHP's memcached extension against a daemon over the binary
// protocol: the session handler (binary by default) and a Memcached
// client with OPT_BINARY_PROTOCOL. Usage: php binary_client.php PORT write|read
$port = (int)$argv[1];
$phase = $argv[2];
if (ini_get('memcached.sess_binary_protocol') !== '1') {
    fwrite(STDERR, "memcached.sess_binary_protocol is not on by default\n");
    exit(2);
}
ini_set('session.save_handler', 'memcached');
ini_set('session.save_path', "127.0.0.1:$port");
ini_set('session.use_cookies', '0');
ini_set('session.use_strict_mode', '0');
session_id('cachectlphpsession01');

$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->setOption(Memcached::OPT_COMPRESSION, false); // append refuses compression
$m->addServer('127.0.0.1', $port);

function fail($what, $m) {
    fwrite(STDERR, "$what failed: " . $m->getResultCode() . " " . $m->getResultMessage() . "\n");
    exit(1);
}

if ($phase === 'write') {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    $_SESSION['user'] = 'alice';
    $_SESSION['visits'] = 3;
    if (!session_write_close()) { fwrite(STDERR, "session_write_close failed\n"); exit(1); }
    if (!$m->set('php:value', 'from php', 60)) fail('set', $m);
    if ($m->add('php:value', 'again') !== false || $m->getResultCode() !== Memcached::RES_DATA_EXISTS) fail('add existing', $m);
    if ($m->increment('php:counter', 5, 10) !== 10) fail('increment with initial', $m);
    if ($m->increment('php:counter', 5) !== 15) fail('increment', $m);
    if (!$m->append('php:value', '!')) fail('append', $m);
    echo "written\n";
} else {
    if (!session_start()) { fwrite(STDERR, "session_start failed\n"); exit(1); }
    echo json_encode($_SESSION), "\n";
    session_write_close();
    $v = $m->get('php:value', null, Memcached::GET_EXTENDED);
    if ($v === false) fail('get', $m);
    echo $v['value'], " cas=", $v['cas'] > 0 ? "set" : "zero", "\n";
    echo $m->get('php:counter'), "\n";
    $multi = $m->getMulti(['php:value', 'php:counter', 'php:missing']);
    ksort($multi);
    echo json_encode($multi), "\n";
    if (!$m->cas($v['cas'], 'php:value', 'swapped')) fail('cas', $m);
    if ($m->cas($v['cas'], 'php:value', 'stale') || $m->getResultCode() !== Memcached::RES_DATA_EXISTS) fail('stale cas', $m);
    if (!$m->delete('php:value')) fail('delete', $m);
    if ($m->get('php:value') !== false || $m->getResultCode() !== Memcached::RES_NOTFOUND) fail('get deleted', $m);
    echo "read\n";
}
