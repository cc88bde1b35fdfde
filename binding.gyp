{
  "targets": [
    {
      "target_name": "portcullis",
      "sources": ["native/addon.cc", "native/compat.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "<!@(node native/detect-libs.cjs defines)"],
      "libraries": ["<!@(node native/detect-libs.cjs libs)"],
      "cflags_cc": ["-O3", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
