// Package tools holds the built-in tools a chat model may call: read_file,
// list_dir, grep, run_command, write_file and edit_file.
//
// Every call goes through two steps. Prepare checks the arguments, resolves
// the paths and builds what the user is shown (a one-line Summary and, for
// writes, a unified diff as Preview); nothing on disk changes. After the user
// approves, Run executes the call within the Box's bounds: output given to
// the model is capped at MaxOutput, files are read up to MaxRead, commands
// stop at Timeout or when the context is cancelled. A command runs in a
// session of its own, with no terminal and no input; its whole process
// group is killed when it is stopped, and when it ends, so nothing it
// started in the background outlives it.
//
// Path policy: a relative path is joined to Box.Root, an absolute one is
// taken as is; both are cleaned (".." removed) and their symlinks resolved
// (on the longest prefix that exists, so a file that does not exist yet can
// still be placed). A path whose resolved form lies outside the root is not
// refused: it is listed in Call.Outside, and such a call needs the user's
// explicit approval even in --yolo mode, where only read-only calls inside
// the root run unasked. run_command, write_file and edit_file always need
// approval. Run resolves the paths again and refuses if they moved since
// Prepare, and edit_file and write_file refuse if the file changed, so what
// runs is what was approved.
//
// Text from tools (file contents, command output) may carry terminal escape
// sequences; Sanitize shows them escaped, both in what the user sees and in
// what the model gets.
package tools
