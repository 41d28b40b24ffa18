# Writes OUT (a .cpp defining oversight::kCodeVersion) from `git describe`,
# touching the file only when the version changed. Run at every build, so
# experiments.code_version names the commit the binary was built from.
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT version)
  set(version "unknown")
endif()
set(content "namespace oversight { extern const char kCodeVersion[] = \"${version}\"; }\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUT} "${content}")
endif()
