{
  "targets": [
    {
      "target_name": "netmon_procscan",
      "sources": ["native/procscan.c", "native/deadline-io.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
