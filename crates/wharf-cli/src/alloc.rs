//! The global allocator: mimalloc, asked for a plain block whenever the alignment asked for is
//! one every block of that size has anyway (16 bytes, `MI_MAX_ALIGN_SIZE`, for a block of 16
//! bytes or more; its own size below that), and for an aligned block only otherwise.
//!
//! The `mimalloc` crate asks for an aligned block every time (Rust gives every allocation an
//! alignment), and mimalloc serves an aligned request above 1 KiB by its slow path: it
//! over-allocates and aligns by hand. The proxy's connection and read buffers are all above
//! that: six such allocations a request cost 1,400 instructions of its 30,000 with a new
//! connection per request (callgrind; README, "Speed"). The C library's `malloc` is used the
//! same way by Rust's own `System` allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// The alignment of every mimalloc block of at least this many bytes (`MI_MAX_ALIGN_SIZE`).
const MAX_ALIGN: usize = 16;

pub struct Mimalloc;

/// Whether a plain block of `size` bytes has the alignment `align`.
fn plain(size: usize, align: usize) -> bool {
    align <= MAX_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc, with the layout's alignment (a plain one has it,
// see `plain`), and goes back to it; `mi_free` takes blocks of either kind.
unsafe impl GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions accept any size and a power-of-two alignment.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps its
        // alignment (plain when a plain block of the new size has it).
        unsafe {
            if plain(new_size, layout.align()) {
                mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    use super::Mimalloc;

    #[test]
    fn every_block_has_its_alignment_through_growth_and_shrinking() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 15, 16, 17, 100, 1024, 1025, 8192, 70_000, 3 << 20] {
                let layout = Layout::from_size_align(size, align).expect("a layout");
                // SAFETY: non-zero sizes; each block is written within its size and freed once.
                unsafe {
                    for zeroed in [false, true] {
                        let p = if zeroed {
                            a.alloc_zeroed(layout)
                        } else {
                            a.alloc(layout)
                        };
                        assert!(!p.is_null(), "{layout:?}");
                        assert_eq!(p as usize % align, 0, "{layout:?}");
                        if zeroed {
                            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                        }
                        p.write_bytes(0xa5, size);
                        let (mut at, mut current, mut kept) = (p, size, size);
                        for new_size in [size * 3 + 1, (size / 2).max(1), 20_000] {
                            let old = Layout::from_size_align(current, align).expect("a layout");
                            let q = a.realloc(at, old, new_size);
                            assert!(!q.is_null());
                            assert_eq!(q as usize % align, 0, "{layout:?} -> {new_size}");
                            // What every size so far held is kept.
                            kept = kept.min(new_size);
                            assert!(std::slice::from_raw_parts(q, kept)
                                .iter()
                                .all(|&b| b == 0xa5));
                            (at, current) = (q, new_size);
                        }
                        a.dealloc(
                            at,
                            Layout::from_size_align(current, align).expect("a layout"),
                        );
                    }
                }
            }
        }
    }
}
