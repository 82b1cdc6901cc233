/** Where a job mounts the volume it works on. */
export const JOB_MOUNT = '/volume';

/**
 * Shell functions of both job scripts, for either kind of image: `bb` runs a tool as a busybox
 * applet where busybox is, else the image's own; where the image has node (the agent's image),
 * node moves the bytes, since busybox `nc` and `wget` read and write in small blocks (about 3 s for
 * 1 GiB on a 2-core machine, against well under 1 s through node).
 */
const TOOLS = [
  'has_busybox() { command -v busybox >/dev/null 2>&1; }',
  'bb() { if has_busybox; then busybox "$@"; else "$@"; fi; }',
  'has_node() { command -v node >/dev/null 2>&1; }',
];

/** stdin to the agent, the agent's answer to stdout; half-closes once stdin ends. */
const NODE_SEND =
  'const s=require("net").connect(+process.env.CF_PORT,process.env.CF_HOST);' +
  'process.stdin.pipe(s);s.pipe(process.stdout);s.on("error",e=>{console.error(e.message);process.exit(1)})';

/** The grant's download to stdout; exits 1 on any answer but 200 or a body cut short. */
const NODE_FETCH =
  'require("http").get({host:process.env.CF_HOST,port:+process.env.CF_PORT,path:process.env.CF_PATH,headers:{authorization:"Bearer "+process.env.CF_TOKEN}},r=>{' +
  'if(r.statusCode!==200){console.error("HTTP "+r.statusCode);process.exit(1)}' +
  'r.on("error",()=>process.exit(1));r.on("end",()=>{if(!r.complete)process.exit(1)});r.pipe(process.stdout)' +
  '}).on("error",e=>{console.error(e.message);process.exit(1)})';

/**
 * The snapshot task: tar of the volume (mounted read-only) streamed to the agent as the body of an
 * HTTP upgrade request; no temporary file, no buffering. The agent answers 201 once the archive is
 * stored; any other answer, or tar failing, fails the task. (GNU tar's exit 1, a file that changed
 * while it was read, is what a live copy accepts; busybox tar does not report it.)
 */
export const SNAPSHOT_SCRIPT = [
  'set -e -o pipefail',
  ...TOOLS,
  `if has_node; then send() { node -e '${NODE_SEND}'; }; else send() { busybox nc "$CF_HOST" "$CF_PORT"; }; fi`,
  `tarc() { if has_busybox; then busybox tar -C ${JOB_MOUNT} -cf - .; else tar -C ${JOB_MOUNT} --warning=no-file-changed -cf - . || [ $? -eq 1 ]; fi; }`,
  `est=$(bb du -sk ${JOB_MOUNT} | bb cut -f1)`,
  `answer=$({ printf 'POST %s HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Bearer %s\\r\\nConnection: Upgrade\\r\\nUpgrade: coreflow-archive\\r\\nX-Coreflow-Estimate-Kib: %s\\r\\n\\r\\n' "$CF_PATH" "$CF_HOST" "$CF_TOKEN" "$est"; tarc; } | send)`,
  'case "$answer" in "HTTP/1.1 201"*) exit 0;; esac',
  'echo "the agent did not store the archive: $answer" >&2',
  'exit 1',
].join('\n');

/**
 * `fetch_into DIR`: the archive unpacked into DIR. Under bash without busybox (the agent's image),
 * bash opens the connection itself (/dev/tcp) and tar reads the body from it through dd, which
 * counts it: GNU tar ends without an error on an archive cut at a member boundary, so a body
 * shorter than its Content-Length fails here. Piping the body through node instead took three
 * times as long for 1 GiB (2.2 s against 0.8 s). Elsewhere, or when bash cannot open the
 * connection, `fetch` (node or busybox wget) pipes it to tar.
 */
const TCP_FETCH = [
  'fetch_into() {',
  '  if [ -n "${BASH_VERSION:-}" ] && ! has_busybox && exec 3<>"/dev/tcp/$CF_HOST/$CF_PORT"; then',
  "    printf 'GET %s HTTP/1.1\\r\\nHost: %s\\r\\nAuthorization: Bearer %s\\r\\nConnection: close\\r\\n\\r\\n' \"$CF_PATH\" \"$CF_HOST\" \"$CF_TOKEN\" >&3",
  '    cr=$(printf "\\r"); status=; len=',
  '    IFS= read -r status <&3 || true',
  '    case "$status" in "HTTP/1.1 200"*) ;; *) echo "the agent answered: ${status%"$cr"}" >&2; return 1;; esac',
  '    while IFS= read -r line <&3; do',
  '      line=${line%"$cr"}; [ -z "$line" ] && break',
  '      case "$line" in [Cc]ontent-[Ll]ength:*) len=${line#*:}; len=${len# };; esac',
  '    done',
  '    LC_ALL=C dd bs=1M <&3 2>/tmp/coreflow-fetch.log | untar "$1" || return 1',
  "    got=$(sed -n 's/^\\([0-9]*\\) bytes.*/\\1/p' /tmp/coreflow-fetch.log)",
  '    [ -n "$len" ] && [ "$got" = "$len" ] || { echo "the archive arrived short: ${got:-0} of ${len:-?} bytes" >&2; return 1; }',
  '  else',
  '    fetch | untar "$1"',
  '  fi',
  '}',
];

/** The restore job's exit code when it was to fill a new volume and found data in it. */
export const EXIT_NOT_EMPTY = 3;

/**
 * The restore task: the archive is fetched and unpacked into a staging folder inside the volume;
 * only once all of it is unpacked are the old contents moved aside and the new ones moved in
 * (renames within the volume), so a failed download or unpack leaves the previous data in place;
 * the data is flushed to disk before the swap and the swap before the job ends.
 * With CF_INTO_NEW=1 (a restore into a new volume) it touches nothing and exits EXIT_NOT_EMPTY
 * when the volume already holds anything.
 */
export const RESTORE_SCRIPT = [
  'set -e -o pipefail',
  ...TOOLS,
  `if has_node; then fetch() { node -e '${NODE_FETCH}'; }; else fetch() { busybox wget -q -O - --header "Authorization: Bearer $CF_TOKEN" "http://$CF_HOST:$CF_PORT$CF_PATH"; }; fi`,
  ...TCP_FETCH,
  `cd ${JOB_MOUNT}`,
  'if [ "${CF_INTO_NEW:-}" = 1 ]; then',
  '  for f in * .[!.]* ..?*; do',
  `    if [ -e "$f" ] || [ -L "$f" ]; then echo "the volume is not empty" >&2; exit ${EXIT_NOT_EMPTY}; fi`,
  '  done',
  'fi',
  'stage=.coreflow-restore; old=.coreflow-previous',
  'bb rm -rf "$stage" "$old"; bb mkdir "$stage"',
  // GNU tar reads 10 KiB records by default: 128 KiB ones (-B: whole records from a pipe) unpack 1 GiB about a third faster.
  'untar() { if has_busybox; then busybox tar -x -C "$1"; else tar -x -B -b 256 -C "$1"; fi; }',
  'if ! fetch_into "$stage"; then',
  '  bb rm -rf "$stage"; echo "cannot fetch or unpack the archive" >&2; exit 1',
  'fi',
  // The unpacked data is on disk before the old is moved aside, and the swap before the job reports success.
  'bb sync',
  'bb mkdir "$old"',
  'for f in * .[!.]* ..?*; do',
  '  case "$f" in "$stage"|"$old") continue;; esac',
  '  if [ -e "$f" ] || [ -L "$f" ]; then bb mv "$f" "$old"/; fi',
  'done',
  'for f in "$stage"/* "$stage"/.[!.]* "$stage"/..?*; do',
  '  if [ -e "$f" ] || [ -L "$f" ]; then bb mv "$f" .; fi',
  'done',
  'bb rmdir "$stage"; bb rm -rf "$old"',
  'bb sync',
].join('\n');

/**
 * The job's command: the script run by bash where the image has it (an image without busybox has
 * dash as sh, which lacks pipefail), else by sh (busybox ash).
 */
export function jobCommand(script: string): string[] {
  return ['sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -c "$1"; fi; exec sh -c "$1"', 'coreflow-job', script];
}
