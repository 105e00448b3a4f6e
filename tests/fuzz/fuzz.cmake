# Included by the top-level CMakeLists.txt when TALLY_FUZZ is ON (clang++-14): the API library
# without the Beast server and the node wiring (no Kafka client or libcurl is compiled or linked), and the
# libFuzzer targets over it.
list(FILTER TALLY_API_SRC EXCLUDE REGEX "/api/(http_server|node_api|alert_delivery)\\.cc$")
# The webhook endpoints' parts that need no Kafka client or libcurl.
set(TALLY_FUZZ_CONSUMERS_SRC
    ${CMAKE_CURRENT_SOURCE_DIR}/consumers/webhook_registry.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/consumers/delivery_store.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/consumers/net_ranges.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/consumers/webhook_signature.cc)
add_library(tally_api_fuzz STATIC ${TALLY_API_SRC} ${TALLY_OPENAPI_CC} ${TALLY_FUZZ_CONSUMERS_SRC})
target_link_libraries(tally_api_fuzz PUBLIC tally_projections Boost::url OpenSSL::SSL
                      OpenSSL::Crypto ${JWT_LIBRARY})
if(TALLY_SIMD)
  target_compile_options(tally_api_fuzz PRIVATE -mavx2 -mbmi -mbmi2 -mlzcnt -mpclmul -msse4.2
                         -mpopcnt)
endif()
foreach(target fuzz_request fuzz_decoders)
  add_executable(${target} ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/${target}.cc)
  target_link_libraries(${target} PRIVATE tally_api_fuzz)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer)
endforeach()
