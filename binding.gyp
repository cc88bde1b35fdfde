{
  "targets": [
    {
      "target_name": "portcullis",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
